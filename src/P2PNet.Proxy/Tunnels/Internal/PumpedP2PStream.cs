using System.IO.Pipelines;
using P2PNet.Host;

namespace P2PNet.Proxy.Tunnels.Internal;

/// <summary>A libp2p stream as a pump's stream end.</summary>
internal sealed class PumpedP2PStream(P2PStream stream) : IPumpedStream
{
    public PipeReader Input => stream.Input;

    public PipeWriter Output => stream.Output;

    public ValueTask CompleteWritesAsync(CancellationToken cancellationToken) => stream.CompleteWritesAsync(cancellationToken);

    public void Abort() => stream.Abort();

    public ValueTask DisposeAsync() => stream.DisposeAsync();
}
