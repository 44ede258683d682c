namespace P2PNet.Discovery;

/// <summary>
/// Settings of libp2p mDNS discovery (libp2p/specs <c>discovery/mdns.md</c>). The host queries
/// <c>_p2p._udp.local</c> PTR on the local link and answers queries with its listen addresses as
/// <c>dnsaddr=&lt;multiaddr&gt;/p2p/&lt;id&gt;</c> TXT records.
/// </summary>
/// <remarks>
/// Under a private network (<see cref="Host.P2PHostOptions.PrivateNetworkKey"/>) the service name becomes
/// <c>_p2p-&lt;first 8 hex digits of the swarm key's fingerprint&gt;._udp.local</c>, so private and public swarms, and
/// swarms with different keys, do not discover each other (the key itself is never sent). This is a P2PNet convention;
/// other libp2p implementations only find such a node if configured with the same service name.
/// </remarks>
public sealed class MdnsOptions
{
    /// <summary>The service name on the public network.</summary>
    public const string DefaultServiceName = "_p2p._udp.local";

    /// <summary>Whether the host runs mDNS discovery. Default false.</summary>
    public bool Enabled { get; set; }

    /// <summary>How often to query. Default 10 s (js-libp2p's default); the first query is sent at start.</summary>
    public TimeSpan QueryInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>TTL of our answers. Default 120 s (RFC 6762 §10 for records with host names).</summary>
    public TimeSpan RecordTtl { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>Whether to dial discovered peers we are not connected to. Default true.</summary>
    public bool AutoDial { get; set; } = true;

    /// <summary>Most dials to discovered peers in flight at once. Default 8. A peer over the cap is dialed when it is
    /// announced again (every <see cref="QueryInterval"/>), so a link full of announcements cannot make us dial without bound.</summary>
    public int MaxConcurrentDials { get; set; } = 8;

    /// <summary>Most dials to discovered peers started per <see cref="DialRateInterval"/>. Default 16.</summary>
    public int MaxDialsPerInterval { get; set; } = 16;

    /// <summary>The interval of <see cref="MaxDialsPerInterval"/>. Default 10 s.</summary>
    public TimeSpan DialRateInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Whether to use IPv4 multicast (224.0.0.251:5353). Default true.</summary>
    public bool UseIPv4 { get; set; } = true;

    /// <summary>Whether to use IPv6 multicast ([ff02::fb]:5353). Default true (skipped when the machine has no IPv6).</summary>
    public bool UseIPv6 { get; set; } = true;

    /// <summary>Whether to announce loopback addresses too. Default false: only the link's addresses are useful to others.</summary>
    public bool AnnounceLoopback { get; set; }

    /// <summary>The service name to use instead of the default (and the private-network variant). Default: none.</summary>
    public string? ServiceName { get; set; }

    /// <summary>UDP port. Default 5353 (RFC 6762); other values are for tests only.</summary>
    public int Port { get; set; } = 5353;
}
