using P2PNet.Multiformats;

namespace P2PNet.Transports;

/// <summary>A way to reach peers: dials and listens on the multiaddrs it understands, producing raw byte pipes
/// that the host then secures and multiplexes.</summary>
public interface ITransport
{
    /// <summary>Whether this transport can dial <paramref name="address"/>.</summary>
    bool CanDial(Multiaddr address);

    /// <summary>Whether this transport can listen on <paramref name="address"/>.</summary>
    bool CanListen(Multiaddr address);

    /// <summary>Opens a raw connection to <paramref name="address"/>.</summary>
    ValueTask<TransportConnection> DialAsync(Multiaddr address, CancellationToken cancellationToken = default);

    /// <summary>Starts listening on <paramref name="address"/> (port 0 picks a free port).</summary>
    ValueTask<ITransportListener> ListenAsync(Multiaddr address, CancellationToken cancellationToken = default);
}
