using P2PNet.Host;
using P2PNet.Protocols.Nat;
using P2PNet.Protocols.Relay;

namespace P2PNet.Networking;

/// <summary>What <see cref="INetwork.Config"/> takes: the host's settings and the protocols to serve.</summary>
public sealed class NetworkOptions
{
    /// <summary>The host's settings (identity, listen addresses, limits).</summary>
    public P2PHostOptions Host { get; init; } = new();

    /// <summary>Application protocol handlers to register before the host starts.</summary>
    public IDictionary<string, StreamHandler> StreamHandlers { get; } = new Dictionary<string, StreamHandler>(StringComparer.Ordinal);

    /// <summary>Largest messenger message. Default 4 MiB.</summary>
    public int MaxMessageSize { get; init; } = P2PNet.Messaging.Messenger.DefaultMaxMessageSize;

    /// <summary>Find out whether the node is reachable (AutoNAT client); null (the default) leaves it off and
    /// <see cref="NetworkStatus.Reachability"/> unknown.</summary>
    public AutoNatClientOptions? AutoNat { get; init; }

    /// <summary>Dial other peers back for their AutoNAT (a node on a public address); null (the default): off.</summary>
    public AutoNatServiceOptions? AutoNatService { get; init; }

    /// <summary>Upgrade relayed connections with DCUtR hole punching; null (the default): off. Turn on
    /// <see cref="Transports.Tcp.TcpTransportOptions.PortReuse"/> in <see cref="Host"/> with it.</summary>
    public HolePunchOptions? HolePunching { get; init; }

    /// <summary>Serve circuit relay v2 to other peers; null (the default): off.</summary>
    public RelayServiceOptions? RelayService { get; init; }

    /// <summary>Accept relayed connections and keep reservations through AutoRelay (while private, by default); null
    /// (the default): relayed connections are neither accepted nor reserved for.</summary>
    public AutoRelayOptions? AutoRelay { get; init; }
}
