using P2PNet.Host;

namespace P2PNet.Protocols.Echo;

/// <summary><c>/echo/1.0.0</c>: echoes every byte back until the remote closes its write side, then closes.
/// Served by <c>p2pnet node</c> and used by the interop tests.</summary>
public static class EchoProtocol
{
    /// <summary>The protocol id.</summary>
    public const string Id = "/echo/1.0.0";

    /// <summary>Echoes the stream.</summary>
    public static async Task HandleAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        await stream.Input.CopyToAsync(stream.Output, cancellationToken).ConfigureAwait(false);
        await stream.CompleteWritesAsync(cancellationToken).ConfigureAwait(false);
    }
}
