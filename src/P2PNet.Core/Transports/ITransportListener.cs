using P2PNet.Multiformats;

namespace P2PNet.Transports;

/// <summary>An open listener of a transport.</summary>
public interface ITransportListener : IAsyncDisposable
{
    /// <summary>The address actually bound (with the real port).</summary>
    Multiaddr LocalAddress { get; }

    /// <summary>Waits for the next inbound raw connection.</summary>
    /// <exception cref="ObjectDisposedException">The listener was closed.</exception>
    ValueTask<TransportConnection> AcceptAsync(CancellationToken cancellationToken = default);
}
