using P2PNet.Crypto;
using P2PNet.Multiformats;
using P2PNet.Muxing;
using P2PNet.Muxing.Yamux;
using P2PNet.Security.Noise;
using P2PNet.Security.Pnet;
using P2PNet.Transports.Tcp;
using P2PNet.Transports.WebSockets;
using P2PNet.Discovery;
using P2PNet.Peers;
using P2PNet.Resources;
using P2PNet.Upgrade;

namespace P2PNet.Host;

/// <summary>Settings of a <see cref="P2PHost"/>. Every limit has a documented default suitable for a public node.</summary>
public sealed class P2PHostOptions
{
    /// <summary>The node's identity. Default: a new Ed25519 key each start (set it to keep a stable peer id).</summary>
    public PrivateKey? Identity { get; set; }

    /// <summary>
    /// A libp2p private key file (protobuf, as <c>p2pnet key new</c> and go/js libp2p write) holding the node's identity.
    /// When <see cref="Identity"/> is not set, <c>services.AddP2PNet(…)</c> reads it, or creates it with a new Ed25519 key
    /// (file mode 0600) when it does not exist. Default: none.
    /// </summary>
    public string? IdentityKeyFile { get; set; }

    /// <summary>
    /// A swarm key file (<c>/key/swarm/psk/1.0.0/</c>). When <see cref="PrivateNetworkKey"/> is not set,
    /// <c>services.AddP2PNet(…)</c> reads it; a missing or malformed file fails at start-up. Default: none.
    /// </summary>
    public string? PrivateNetworkKeyFile { get; set; }

    /// <summary>Addresses to listen on when the host starts. Default: none (call <see cref="P2PHost.ListenAsync"/>).</summary>
    public IList<Multiaddr> ListenAddresses { get; } = [];

    /// <summary>What identify reports as our agent. Default <c>p2pnet/&lt;version&gt;</c>.</summary>
    public string AgentVersion { get; set; } = "p2pnet/" + (typeof(P2PHostOptions).Assembly.GetName().Version?.ToString(3) ?? "0.0.0");

    /// <summary>What identify reports as our protocol version. Default <c>ipfs/0.1.0</c>, as go and js send.</summary>
    public string ProtocolVersion { get; set; } = "ipfs/0.1.0";

    /// <summary>Limit for a whole connection upgrade (pnet, security handshake, muxer). Default 15 s.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Limit for negotiating the protocol of one stream. Default 10 s.</summary>
    public TimeSpan NegotiationTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Limit for one dial, from TCP connect to a ready connection. Default 20 s.</summary>
    public TimeSpan DialTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>Most connections open at once, both directions. Default 1024.</summary>
    public int MaxConnections { get; set; } = 1024;

    /// <summary>Most connections to one peer. Default 4.</summary>
    public int MaxConnectionsPerPeer { get; set; } = 4;

    /// <summary>Most inbound connections still in their handshake. Default 128. The same setting as
    /// <see cref="ResourceLimits.MaxInboundHandshakes"/> of <see cref="Resources"/>.</summary>
    public int MaxPendingInboundConnections
    {
        get => Resources.MaxInboundHandshakes;
        set => Resources.MaxInboundHandshakes = value;
    }

    /// <summary>Budgets for connections, handshakes, streams and buffer memory per host, remote IP, peer, protocol and
    /// connection, with an allow list. Defaults suit a node on a public address; see <see cref="ResourceLimits"/>.</summary>
    public ResourceLimits Resources { get; set; } = new();

    /// <summary>A connection with no open stream for this long is closed. Default 5 minutes; <see cref="TimeSpan.Zero"/> never.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long <see cref="P2PHost.StopAsync"/> may take: connections close gracefully within it (each at most
    /// <see cref="ConnectionCloseTimeout"/>) and are then aborted; background work still running after it is left behind.
    /// Default 5 s.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long closing one connection may take gracefully (Yamux GoAway, queued data flushed, stream handlers
    /// ended) before its transport is aborted (socket closed with RST, buffers released) — e.g. when the peer stopped
    /// reading. Capped by <see cref="ShutdownTimeout"/>. Default 2 s.</summary>
    public TimeSpan ConnectionCloseTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Whether the host serves <c>/perf/1.0.0</c> (it lets any peer make us send data). Default false.</summary>
    public bool EnablePerf { get; set; }

    /// <summary>Largest identify message accepted. Default 64 KiB.</summary>
    public int MaxIdentifyMessageSize { get; set; } = 64 * 1024;

    /// <summary>The private network's swarm key (libp2p PSK v1). When set, every connection is protected with it and
    /// only peers holding the same key can connect. Default: none (the public network).</summary>
    public SwarmKey? PrivateNetworkKey { get; set; }

    /// <summary>Further keys accepted on inbound connections, e.g. the old key during a rotation's grace period.
    /// Outbound connections always use <see cref="PrivateNetworkKey"/>.</summary>
    public IList<SwarmKey> AcceptedPrivateNetworkKeys { get; } = [];

    /// <summary>
    /// The security protocols of the connection upgrade, most preferred first; a dialer proposes them in this order with
    /// multistream-select. Each factory runs once per host, at its first connection. Default: Noise
    /// (<see cref="NoiseSecurityProtocol.Create"/>, configured by <see cref="Noise"/>).
    /// </summary>
    public IList<Func<UpgradeContext, ISecurityProtocol>> SecurityProtocols { get; } = [NoiseSecurityProtocol.Create];

    /// <summary>
    /// The stream muxers of the connection upgrade, most preferred first: proposed in this order with multistream-select,
    /// and the ones a security protocol may agree on inside its handshake (<see cref="NoiseOptions.StreamMuxers"/> is
    /// what Noise announces). Each factory runs once per host. Default: Yamux (<see cref="YamuxStreamMuxer.Create"/>,
    /// configured by <see cref="Yamux"/>).
    /// </summary>
    public IList<Func<UpgradeContext, IStreamMuxer>> Muxers { get; } = [YamuxStreamMuxer.Create];

    /// <summary>Yamux settings (windows, stream limits, keep-alive).</summary>
    public YamuxOptions Yamux { get; set; } = new();

    /// <summary>Noise settings.</summary>
    public NoiseOptions Noise { get; set; } = new();

    /// <summary>TCP transport settings.</summary>
    public TcpTransportOptions Tcp { get; set; } = new();

    /// <summary>How observed addresses (identify) are collected, advertised and turned into a NAT type.</summary>
    public ObservedAddressOptions ObservedAddresses { get; set; } = new();

    /// <summary>WebSocket transport settings (<c>/ws</c>, <c>/wss</c>).</summary>
    public WebSocketTransportOptions WebSockets { get; set; } = new();

    /// <summary>Local-network discovery with mDNS. Default: off (<see cref="MdnsOptions.Enabled"/> false).</summary>
    public MdnsOptions Mdns { get; set; } = new();

    /// <summary>Peers (<c>…/p2p/&lt;id&gt;</c> multiaddrs) dialed at start and re-dialed with backoff while disconnected.
    /// Default: none.</summary>
    public IList<Multiaddr> BootstrapPeers { get; } = [];

    /// <summary>Backoff of bootstrap re-dials.</summary>
    public BootstrapOptions Bootstrap { get; set; } = new();

    /// <summary>Peer store persistence. Default: in memory only.</summary>
    public PeerStoreOptions PeerStore { get; set; } = new();

    /// <summary>Decides which peers and addresses may connect (e.g. an allow-list for a private swarm). Default: none (all allowed).</summary>
    public IConnectionGater? ConnectionGater { get; set; }
}
