using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using P2PNet.Host;
using P2PNet.Logging;
using P2PNet.Peers;

namespace P2PNet.Resources.Internal;

/// <summary>
/// The host's resource manager: budgets for the whole host (system), each remote IP (IPv6: /64), each peer, each protocol
/// and each connection (<see cref="ConnectionResources"/>), in the spirit of go-libp2p's resource manager. Every refusal
/// is counted (<c>p2pnet.resource.refused</c>) and logged at a bounded rate.
/// </summary>
/// <remarks>
/// Thread-safe. The IP and peer scopes live while a connection (or inbound handshake) holds them: they are created and
/// dropped under <see cref="_sync"/>, which is never held while calling out. Protocol scopes live as long as the host
/// (protocols are the host's own handlers and the application's, a small set).
/// </remarks>
internal sealed class ResourceManager
{
    private readonly Lock _sync = new();
    private readonly Dictionary<IPAddress, ResourceScope> _ips = [];
    private readonly Dictionary<PeerId, ResourceScope> _peers = [];
    private readonly ConcurrentDictionary<string, ResourceScope> _protocols = new(StringComparer.Ordinal);
    private readonly HashSet<PeerId> _allowedPeers;
    private readonly IPNetwork[] _allowedNetworks;
    private readonly ILogger _logger;
    private readonly Counter<long>? _refusedCounter;
    private long _refused;

    public ResourceManager(ResourceLimits limits, ILogger logger, Meter? meter = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(limits);
        limits.Validate();
        Limits = limits.Clone();
        _logger = logger;
        _allowedPeers = [.. Limits.AllowedPeers];
        _allowedNetworks = [.. Limits.AllowedNetworks];
        LogLimiter = new LogRateLimiter(Limits.RefusalLogLines, Limits.RefusalLogInterval, timeProvider);
        System = new ResourceScope(ResourceScopeKind.System, ResourceScope.Limits(
            Limits.MaxInboundConnections, Limits.MaxOutboundConnections, Limits.MaxInboundHandshakes,
            Limits.MaxInboundStreams, Limits.MaxOutboundStreams, Limits.MaxMemory));
        if (meter is not null)
        {
            _refusedCounter = meter.CreateCounter<long>("p2pnet.resource.refused", "{refusal}",
                "Requests refused by the resource manager, by scope kind, resource and direction.");
            meter.CreateObservableGauge("p2pnet.resource.usage", ObserveUsage, "{resource}",
                "What the whole host holds now, by resource and direction (memory in bytes).");
        }
    }

    public ResourceLimits Limits { get; }

    public ResourceScope System { get; }

    /// <summary>The host's limiter for log lines a peer can trigger at will; shared by the host's log sites.</summary>
    public LogRateLimiter LogLimiter { get; }

    /// <summary>Inbound connections in their handshake, host-wide.</summary>
    public long PendingInbound => System.Used(ResourceKind.InboundHandshakes);

    /// <summary>Starts an inbound connection from <paramref name="remote"/>: takes a handshake slot (system and per IP).</summary>
    /// <exception cref="ResourceLimitExceededException">A handshake budget is full; close the raw connection.</exception>
    public ConnectionResources OpenInbound(IPAddress? remote) => Open(ConnectionDirection.Inbound, remote);

    /// <summary>Starts an outbound connection to <paramref name="remote"/> (when known): takes an outbound slot (system, per IP).</summary>
    /// <exception cref="ResourceLimitExceededException">An outbound budget is full; do not dial.</exception>
    public ConnectionResources OpenOutbound(IPAddress? remote) => Open(ConnectionDirection.Outbound, remote);

    private ConnectionResources Open(ConnectionDirection direction, IPAddress? remote)
    {
        IPAddress? key = remote is null ? null : IpKey(remote);
        bool allowed = remote is not null && IsAllowed(remote);
        ResourceKind kind = direction == ConnectionDirection.Inbound ? ResourceKind.InboundHandshakes : ResourceKind.OutboundConnections;
        ResourceScope? ip = key is null ? null : AcquireIp(key);
        if (ip is not null && !allowed && !ip.TryReserve(kind, 1))
        {
            ReleaseIp(key!, ip);
            throw Refuse(ip, kind, direction, remote?.ToString() ?? "?");
        }

        if (ip is not null && allowed)
        {
            ip.Add(kind, 1);
        }

        if (!System.TryReserve(kind, 1))
        {
            if (ip is not null)
            {
                ip.Release(kind, 1);
                ReleaseIp(key!, ip);
            }

            throw Refuse(System, kind, direction, remote?.ToString() ?? "?");
        }

        return new ConnectionResources(this, direction, remote, key, ip, allowed);
    }

    /// <summary>Whether <paramref name="address"/> is in an allowed network.</summary>
    public bool IsAllowed(IPAddress address)
    {
        IPAddress plain = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        foreach (IPNetwork network in _allowedNetworks)
        {
            if (network.Contains(plain))
            {
                return true;
            }
        }

        return false;
    }

    public bool IsAllowed(PeerId peer) => _allowedPeers.Contains(peer);

    /// <summary>The budget key of an address: the IPv4 address itself, or the /64 network of an IPv6 address.</summary>
    internal static IPAddress IpKey(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address;
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes);
    }

    private ResourceScope AcquireIp(IPAddress key)
    {
        lock (_sync)
        {
            if (!_ips.TryGetValue(key, out ResourceScope? scope))
            {
                scope = new ResourceScope(ResourceScopeKind.Ip, ResourceScope.Limits(
                    Limits.MaxInboundConnectionsPerIp, Limits.MaxOutboundConnectionsPerIp, Limits.MaxInboundHandshakesPerIp,
                    long.MaxValue, long.MaxValue, long.MaxValue));
                _ips.Add(key, scope);
            }

            scope.References++;
            return scope;
        }
    }

    internal void ReleaseIp(IPAddress key, ResourceScope scope)
    {
        lock (_sync)
        {
            if (--scope.References == 0)
            {
                Debug.Assert(scope.Usage.IsEmpty, "an IP scope is dropped only when empty");
                _ips.Remove(key);
            }
        }
    }

    internal ResourceScope AcquirePeer(PeerId peer)
    {
        lock (_sync)
        {
            if (!_peers.TryGetValue(peer, out ResourceScope? scope))
            {
                scope = new ResourceScope(ResourceScopeKind.Peer, ResourceScope.Limits(
                    Limits.MaxInboundConnectionsPerPeer, Limits.MaxOutboundConnectionsPerPeer, long.MaxValue,
                    Limits.MaxInboundStreamsPerPeer, Limits.MaxOutboundStreamsPerPeer, Limits.MaxMemoryPerPeer));
                _peers.Add(peer, scope);
            }

            scope.References++;
            return scope;
        }
    }

    internal void ReleasePeer(PeerId peer, ResourceScope scope)
    {
        lock (_sync)
        {
            if (--scope.References == 0)
            {
                Debug.Assert(scope.Usage.IsEmpty, "a peer scope is dropped only when empty");
                _peers.Remove(peer);
            }
        }
    }

    internal ResourceScope Protocol(string protocol) => _protocols.GetOrAdd(protocol, _ => new ResourceScope(ResourceScopeKind.Protocol,
        ResourceScope.Limits(long.MaxValue, long.MaxValue, long.MaxValue,
            Limits.MaxInboundStreamsPerProtocol, Limits.MaxOutboundStreamsPerProtocol, long.MaxValue)));

    internal ResourceScope NewConnectionScope() => new(ResourceScopeKind.Connection, ResourceScope.Limits(
        1, 1, 1, Limits.MaxInboundStreamsPerConnection, Limits.MaxOutboundStreamsPerConnection, Limits.MaxMemoryPerConnection));

    /// <summary>Counts and logs (at a bounded rate) a refusal; returns the exception that tells the caller.</summary>
    internal ResourceLimitExceededException Refuse(ResourceScope scope, ResourceKind kind, ConnectionDirection? direction, string remote)
    {
        Interlocked.Increment(ref _refused);
        _refusedCounter?.Add(1, Tags(scope.Kind, kind, direction));
        var error = new ResourceLimitExceededException(scope.Kind, kind, scope.Limit(kind));
        if (LogLimiter.TryAcquire(Category(scope.Kind, kind), out long suppressed))
        {
            string what = kind switch
            {
                ResourceKind.InboundHandshakes or ResourceKind.InboundConnections => "an inbound connection",
                ResourceKind.OutboundConnections => "an outbound connection",
                ResourceKind.InboundStreams => "an inbound stream",
                ResourceKind.OutboundStreams => "an outbound stream",
                _ => "buffer memory",
            };
            ResourceLog.Refused(_logger, what, remote, error.Message, suppressed);
        }

        return error;
    }

    /// <summary>Usage of <paramref name="peer"/>'s budget, or <see langword="null"/> if it has no connection.</summary>
    public ScopeUsage? PeerUsage(PeerId peer)
    {
        lock (_sync)
        {
            return _peers.TryGetValue(peer, out ResourceScope? scope) ? scope.Usage : null;
        }
    }

    /// <summary>Usage of the budget of <paramref name="protocol"/> (empty if never used).</summary>
    public ScopeUsage ProtocolUsage(string protocol) => _protocols.TryGetValue(protocol, out ResourceScope? scope) ? scope.Usage : default;

    public ResourceUsage Snapshot()
    {
        lock (_sync)
        {
            return new ResourceUsage(System.Usage, _peers.Count, _ips.Count, Interlocked.Read(ref _refused));
        }
    }

    private static string Category(ResourceScopeKind scope, ResourceKind kind) => s_categories[((int)scope * 6) + (int)kind];

    private static readonly string[] s_categories = [.. Enum.GetValues<ResourceScopeKind>()
        .SelectMany(s => Enum.GetValues<ResourceKind>().Select(k => $"resource.{s}.{k}"))];

    private static TagList Tags(ResourceScopeKind scope, ResourceKind kind, ConnectionDirection? direction)
    {
        (string resource, string? impliedDirection) = Describe(kind);
        string? dir = impliedDirection ?? direction switch
        {
            ConnectionDirection.Inbound => "inbound",
            ConnectionDirection.Outbound => "outbound",
            _ => null,
        };
        var tags = new TagList { { "scope", ScopeTag(scope) }, { "resource", resource } };
        if (dir is not null)
        {
            tags.Add("direction", dir);
        }

        return tags;
    }

    private static string ScopeTag(ResourceScopeKind scope) => scope switch
    {
        ResourceScopeKind.System => "system",
        ResourceScopeKind.Ip => "ip",
        ResourceScopeKind.Peer => "peer",
        ResourceScopeKind.Protocol => "protocol",
        _ => "connection",
    };

    private static (string Resource, string? Direction) Describe(ResourceKind kind) => kind switch
    {
        ResourceKind.InboundConnections => ("connections", "inbound"),
        ResourceKind.OutboundConnections => ("connections", "outbound"),
        ResourceKind.InboundHandshakes => ("handshakes", "inbound"),
        ResourceKind.InboundStreams => ("streams", "inbound"),
        ResourceKind.OutboundStreams => ("streams", "outbound"),
        _ => ("memory", null),
    };

    private IEnumerable<Measurement<long>> ObserveUsage()
    {
        foreach (ResourceKind kind in Enum.GetValues<ResourceKind>())
        {
            yield return new Measurement<long>(System.Used(kind), Tags(ResourceScopeKind.System, kind, null));
        }
    }
}
