using System.Net;
using P2PNet.Peers;

namespace P2PNet.Resources;

/// <summary>
/// Budgets of the host's resource manager (<see cref="Host.P2PHostOptions.Resources"/>): connections, connections in
/// their handshake, streams and buffer memory, per host (system), per remote IP, per peer, per protocol and per
/// connection. A request that would exceed any budget is refused before the resource is used.
/// </summary>
/// <remarks>
/// The defaults suit a node on a public address: one remote address cannot hold more than a few handshakes, one peer
/// cannot pin more than tens of MiB, and the whole host stays within a few hundred MiB of buffers. Members of the allow
/// list (<see cref="AllowedPeers"/>, <see cref="AllowedNetworks"/>) bypass the per-IP and per-peer budgets; the
/// system, per-protocol and per-connection budgets still apply to them. The table of every limit and what a refused peer
/// sees is in <c>docs/security.md</c>. Options are read when the host is created.
/// </remarks>
public sealed class ResourceLimits
{
    private const long MiB = 1024 * 1024;

    /// <summary>Most inbound connections past their handshake, host-wide. Default 1,024.</summary>
    public int MaxInboundConnections { get; set; } = 1024;

    /// <summary>Most outbound connections, host-wide, counted from the dial on. Default 1,024.</summary>
    public int MaxOutboundConnections { get; set; } = 1024;

    /// <summary>Most inbound connections from one IP address (IPv6: one /64). Default 16.</summary>
    public int MaxInboundConnectionsPerIp { get; set; } = 16;

    /// <summary>Most outbound connections to one IP address (IPv6: one /64). Default 64.</summary>
    public int MaxOutboundConnectionsPerIp { get; set; } = 64;

    /// <summary>Most inbound connections from one peer. Default 4.</summary>
    public int MaxInboundConnectionsPerPeer { get; set; } = 4;

    /// <summary>Most outbound connections to one peer. Default 4.</summary>
    public int MaxOutboundConnectionsPerPeer { get; set; } = 4;

    /// <summary>
    /// Most inbound connections still in their handshake, host-wide. Default 128. Outbound dials never take from this
    /// budget, so a flood of silent inbound connections cannot stop the host from dialing out.
    /// </summary>
    public int MaxInboundHandshakes { get; set; } = 128;

    /// <summary>
    /// Most inbound connections from one IP address (IPv6: one /64) still in their handshake. Default 8: a single remote
    /// that opens connections and sends nothing holds at most this many slots until the handshake timeout, and everyone
    /// else can still connect.
    /// </summary>
    public int MaxInboundHandshakesPerIp { get; set; } = 8;

    /// <summary>Most streams opened by peers, host-wide. Default 16,384.</summary>
    public int MaxInboundStreams { get; set; } = 16 * 1024;

    /// <summary>Most streams we opened, host-wide. Default 16,384.</summary>
    public int MaxOutboundStreams { get; set; } = 16 * 1024;

    /// <summary>Most streams one peer opened (all its connections). Default 512.</summary>
    public int MaxInboundStreamsPerPeer { get; set; } = 512;

    /// <summary>Most streams we opened to one peer (all its connections). Default 1,024.</summary>
    public int MaxOutboundStreamsPerPeer { get; set; } = 1024;

    /// <summary>Most streams the peer opened on one connection. Default 512.</summary>
    public int MaxInboundStreamsPerConnection { get; set; } = 512;

    /// <summary>Most streams we opened on one connection. Default 1,024.</summary>
    public int MaxOutboundStreamsPerConnection { get; set; } = 1024;

    /// <summary>Most inbound streams of one protocol, host-wide. Default 4,096.</summary>
    public int MaxInboundStreamsPerProtocol { get; set; } = 4096;

    /// <summary>Most outbound streams of one protocol, host-wide. Default 8,192.</summary>
    public int MaxOutboundStreamsPerProtocol { get; set; } = 8192;

    /// <summary>
    /// Bytes of buffers all connections may reserve together, host-wide. Default 512 MiB. Each Yamux stream reserves its
    /// initial receive window and its send buffer when it opens (256 KiB + 256 KiB by default), and every growth of its
    /// receive window before the window grows; a stream or growth that does not fit is refused.
    /// </summary>
    public long MaxMemory { get; set; } = 512 * MiB;

    /// <summary>Bytes of buffers the connections of one peer may reserve together. Default 64 MiB.</summary>
    public long MaxMemoryPerPeer { get; set; } = 64 * MiB;

    /// <summary>Bytes of buffers one connection may reserve. Default 64 MiB.</summary>
    public long MaxMemoryPerConnection { get; set; } = 64 * MiB;

    /// <summary>Peers that bypass the per-IP and per-peer budgets (e.g. your own relays or bootstrap nodes). Default none.</summary>
    public IList<PeerId> AllowedPeers { get; } = [];

    /// <summary>
    /// Networks (e.g. <c>10.0.0.0/8</c>) whose addresses bypass the per-IP and per-peer budgets. Default none.
    /// </summary>
    public IList<IPNetwork> AllowedNetworks { get; } = [];

    /// <summary>Log lines about refusals written per kind of refusal per <see cref="RefusalLogInterval"/>; the rest are counted
    /// and summarised in the next line. Default 5.</summary>
    public int RefusalLogLines { get; set; } = 5;

    /// <summary>The interval of <see cref="RefusalLogLines"/>. Default 10 s.</summary>
    public TimeSpan RefusalLogInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> if a limit is out of range.</summary>
    public void Validate()
    {
        foreach ((int value, string name) in new[]
        {
            (MaxInboundConnections, nameof(MaxInboundConnections)), (MaxOutboundConnections, nameof(MaxOutboundConnections)),
            (MaxInboundConnectionsPerIp, nameof(MaxInboundConnectionsPerIp)), (MaxOutboundConnectionsPerIp, nameof(MaxOutboundConnectionsPerIp)),
            (MaxInboundConnectionsPerPeer, nameof(MaxInboundConnectionsPerPeer)), (MaxOutboundConnectionsPerPeer, nameof(MaxOutboundConnectionsPerPeer)),
            (MaxInboundHandshakes, nameof(MaxInboundHandshakes)), (MaxInboundHandshakesPerIp, nameof(MaxInboundHandshakesPerIp)),
            (MaxInboundStreams, nameof(MaxInboundStreams)), (MaxOutboundStreams, nameof(MaxOutboundStreams)),
            (MaxInboundStreamsPerPeer, nameof(MaxInboundStreamsPerPeer)), (MaxOutboundStreamsPerPeer, nameof(MaxOutboundStreamsPerPeer)),
            (MaxInboundStreamsPerConnection, nameof(MaxInboundStreamsPerConnection)), (MaxOutboundStreamsPerConnection, nameof(MaxOutboundStreamsPerConnection)),
            (MaxInboundStreamsPerProtocol, nameof(MaxInboundStreamsPerProtocol)), (MaxOutboundStreamsPerProtocol, nameof(MaxOutboundStreamsPerProtocol)),
            (RefusalLogLines, nameof(RefusalLogLines)),
        })
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1, name);
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(MaxMemory, 0, nameof(MaxMemory));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxMemoryPerPeer, 0, nameof(MaxMemoryPerPeer));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxMemoryPerConnection, 0, nameof(MaxMemoryPerConnection));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(RefusalLogInterval, TimeSpan.Zero, nameof(RefusalLogInterval));
    }

    /// <summary>A copy, so that a running host is unaffected by later changes.</summary>
    internal ResourceLimits Clone()
    {
        var peers = new List<PeerId>(AllowedPeers);
        var networks = new List<IPNetwork>(AllowedNetworks);
        return new ResourceLimits
        {
            MaxInboundConnections = MaxInboundConnections,
            MaxOutboundConnections = MaxOutboundConnections,
            MaxInboundConnectionsPerIp = MaxInboundConnectionsPerIp,
            MaxOutboundConnectionsPerIp = MaxOutboundConnectionsPerIp,
            MaxInboundConnectionsPerPeer = MaxInboundConnectionsPerPeer,
            MaxOutboundConnectionsPerPeer = MaxOutboundConnectionsPerPeer,
            MaxInboundHandshakes = MaxInboundHandshakes,
            MaxInboundHandshakesPerIp = MaxInboundHandshakesPerIp,
            MaxInboundStreams = MaxInboundStreams,
            MaxOutboundStreams = MaxOutboundStreams,
            MaxInboundStreamsPerPeer = MaxInboundStreamsPerPeer,
            MaxOutboundStreamsPerPeer = MaxOutboundStreamsPerPeer,
            MaxInboundStreamsPerConnection = MaxInboundStreamsPerConnection,
            MaxOutboundStreamsPerConnection = MaxOutboundStreamsPerConnection,
            MaxInboundStreamsPerProtocol = MaxInboundStreamsPerProtocol,
            MaxOutboundStreamsPerProtocol = MaxOutboundStreamsPerProtocol,
            MaxMemory = MaxMemory,
            MaxMemoryPerPeer = MaxMemoryPerPeer,
            MaxMemoryPerConnection = MaxMemoryPerConnection,
            RefusalLogLines = RefusalLogLines,
            RefusalLogInterval = RefusalLogInterval,
        }.WithLists(peers, networks);
    }

    private ResourceLimits WithLists(List<PeerId> peers, List<IPNetwork> networks)
    {
        foreach (PeerId peer in peers)
        {
            AllowedPeers.Add(peer);
        }

        foreach (IPNetwork network in networks)
        {
            AllowedNetworks.Add(network);
        }

        return this;
    }
}
