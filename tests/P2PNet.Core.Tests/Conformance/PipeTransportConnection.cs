using System.IO.Pipelines;
using P2PNet.Core.Tests.Multistream;
using P2PNet.Multiformats;
using P2PNet.Transports;

namespace P2PNet.Core.Tests.Conformance;

/// <summary>A <see cref="TransportConnection"/> over one end of an in-memory pipe pair: what a relayed stream or any
/// non-socket transport looks like to the upgrade.</summary>
internal sealed class PipeTransportConnection(IDuplexPipe pipe, Multiaddr local, Multiaddr remote) : TransportConnection
{
    private int _disposed;

    /// <summary>Two connected ends, addressed <c>/memory/1</c> and <c>/memory/2</c>.</summary>
    public static (PipeTransportConnection Left, PipeTransportConnection Right) CreatePair()
    {
        var (left, right) = TestPipes.CreatePair();
        Multiaddr one = Multiaddr.Parse("/memory/1"), two = Multiaddr.Parse("/memory/2");
        return (new PipeTransportConnection(left, one, two), new PipeTransportConnection(right, two, one));
    }

    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    public override PipeReader Input => pipe.Input;

    public override PipeWriter Output => pipe.Output;

    public override Multiaddr LocalAddress => local;

    public override Multiaddr RemoteAddress => remote;

    public override void Abort()
    {
        var error = new IOException("The in-memory connection was aborted.");
        pipe.Input.CancelPendingRead();
        pipe.Output.Complete(error);
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await pipe.Output.CompleteAsync().ConfigureAwait(false);
        try
        {
            await pipe.Input.CompleteAsync().ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            // a reader is still inside ReadAsync; it sees the completed writer side and finishes itself
        }
    }
}
