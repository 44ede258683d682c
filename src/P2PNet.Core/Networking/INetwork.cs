using P2PNet.Host;
using P2PNet.Messaging;
using P2PNet.Multiformats;

namespace P2PNet.Networking;

/// <summary>
/// The network a P2PNet application talks to: configure it, start it, listen to its events, dial, listen, ask its status
/// and stop it (the seed design's Config / Init / EventRegister / Dial / Listen / Status / Stop), plus a
/// <see cref="Messenger"/> for typed messages. <see cref="Libp2pNetwork"/> implements it on a <see cref="P2PHost"/>.
/// </summary>
public interface INetwork : IAsyncDisposable
{
    /// <summary>Sets the configuration. Call before <see cref="InitAsync"/>; calling it again before then replaces it.</summary>
    /// <exception cref="InvalidOperationException">The network is already initialised.</exception>
    void Config(NetworkOptions config);

    /// <summary>Starts the host with the configuration: identity, listeners, protocol handlers.</summary>
    ValueTask InitAsync(CancellationToken cancellationToken = default);

    /// <summary>Calls <paramref name="handler"/> for every event of type <typeparamref name="TEvent"/>
    /// (<see cref="LocalAddressesUpdated"/>, <see cref="LocalReachabilityChanged"/>, <see cref="PeerIdentificationCompleted"/>,
    /// <see cref="NatDeviceTypeChanged"/>, <see cref="PeerConnectednessChanged"/>, or <see cref="HostEvent"/> for all)
    /// until the result is disposed. May be called before or after <see cref="InitAsync"/>.</summary>
    IDisposable EventRegister<TEvent>(Action<TEvent> handler) where TEvent : HostEvent;

    /// <summary>Connects to a peer.</summary>
    ValueTask<P2PConnection> DialAsync(Multiaddr address, CancellationToken cancellationToken = default);

    /// <summary>Listens on another address; returns the addresses bound.</summary>
    ValueTask<IReadOnlyList<Multiaddr>> ListenAsync(Multiaddr address, CancellationToken cancellationToken = default);

    /// <summary>A snapshot of the node: identity, addresses, connected peers and counts.</summary>
    NetworkStatus Status();

    /// <summary>Closes every connection and listener.</summary>
    ValueTask StopAsync(CancellationToken cancellationToken = default);

    /// <summary>Typed messages to and from peers.</summary>
    IMessenger Messenger { get; }

    /// <summary>The underlying host, for everything else.</summary>
    P2PHost Host { get; }
}
