using System.IO.Pipelines;
using P2PNet.Proxy.Tunnels.Internal;
using P2PNet.Vpn.NetStack;

namespace P2PNet.Proxy.Inbound.Internal;

/// <summary>A connection of the user-space TCP/IP stack as a <see cref="SocketStreamPump"/>'s stream end: its
/// <see cref="TcpConnection.Transport"/>, whose completed output sends FIN.</summary>
internal sealed class PumpedTcpConnection(TcpConnection connection) : IPumpedStream
{
    public PipeReader Input => connection.Transport.Input;

    public PipeWriter Output => connection.Transport.Output;

    public ValueTask CompleteWritesAsync(CancellationToken cancellationToken) => Output.CompleteAsync();

    public void Abort() => connection.Abort();

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Input.CompleteAsync().ConfigureAwait(false);
            await Output.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            // Output held bytes the reset connection can no longer take: nothing to deliver them to.
        }
        await connection.DisposeAsync().ConfigureAwait(false);
    }
}
