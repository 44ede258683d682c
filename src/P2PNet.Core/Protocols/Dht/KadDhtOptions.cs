using P2PNet.Protocols.Dht.Internal;

namespace P2PNet.Protocols.Dht;

/// <summary>Settings of <see cref="KadDht"/>; the defaults are the spec's (libp2p/specs kad-dht).</summary>
public sealed class KadDhtOptions
{
    /// <summary>The protocol id. Default <c>/ipfs/kad/1.0.0</c>, the public network's; a private network uses its own
    /// (e.g. <c>/myapp/kad/1.0.0</c>) so that its DHT never mixes with the public one.</summary>
    public string ProtocolId { get; set; } = "/ipfs/kad/1.0.0";

    /// <summary>Whether to serve the protocol: a server answers queries and is put in peers' routing tables, a client only
    /// queries, <see cref="KadDhtMode.Auto"/> serves while AutoNAT finds the host publicly reachable. Changeable later
    /// through <see cref="KadDht.Mode"/>. Default <see cref="KadDhtMode.Server"/>.</summary>
    public KadDhtMode Mode { get; set; } = KadDhtMode.Server;

    /// <summary>k: peers per bucket and peers a lookup converges on. Default 20.</summary>
    public int BucketSize { get; set; } = 20;

    /// <summary>α: queries a lookup keeps in flight. Default 3.</summary>
    public int Alpha { get; set; } = 3;

    /// <summary>How long one query may take. Default 10 seconds.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a provider record is kept without being republished. Default 48 hours.</summary>
    public TimeSpan ProviderTtl { get; set; } = TimeSpan.FromHours(48);

    /// <summary>The largest message accepted. Default 64 KiB.</summary>
    public int MaxMessageSize { get; set; } = 64 * 1024;

    /// <summary>Providers kept per key (the most recent). Default 64.</summary>
    public int MaxProvidersPerKey { get; set; } = 64;

    /// <summary>Keys with providers kept in all; beyond, new keys are refused. Default 100,000.</summary>
    public int MaxProviderKeys { get; set; } = 100_000;

    /// <summary>Record validators by namespace: a record key <c>/ns/…</c> is checked (and competing values ranked) by
    /// the validator registered for <c>ns</c>; records of namespaces with none are refused (kad-dht spec, "Value
    /// storage and retrieval"). Default: <c>pk</c>, public-key records (the value is a protobuf <c>PublicKey</c> whose
    /// peer id is the key's suffix).</summary>
    public IDictionary<string, IDhtRecordValidator> Validators { get; } =
        new Dictionary<string, IDhtRecordValidator>(StringComparer.Ordinal) { ["pk"] = PublicKeyRecordValidator.Instance };

    /// <summary>How long a value record is kept after it was received (a publisher puts it again to keep it).
    /// Default 36 hours (go-libp2p's).</summary>
    public TimeSpan RecordTtl { get; set; } = TimeSpan.FromHours(36);

    /// <summary>The largest record value accepted (<c>PUT_VALUE</c> and answers to <c>GET_VALUE</c>). Default 10 KiB.</summary>
    public int MaxRecordSize { get; set; } = 10 * 1024;

    /// <summary>Value records kept in all; beyond, new keys are refused (with <see cref="MaxRecordSize"/>, a bound on
    /// the memory or disk a flood of <c>PUT_VALUE</c> can take: 4,096 × 10 KiB = 40 MiB). Default 4,096.</summary>
    public int MaxRecords { get; set; } = 4_096;

    /// <summary>Candidates kept per full bucket in its replacement cache; the freshest is promoted when a bucket peer is
    /// evicted. Default 20.</summary>
    public int ReplacementCacheSize { get; set; } = 20;

    /// <summary>How often the routing table is refreshed: a lookup of our own id and of a random key in each bucket
    /// not refreshed for this long. Default 10 minutes; <see cref="Timeout.InfiniteTimeSpan"/> turns it off.</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How often the keys we provide and the records we put are announced again (spec: providers every 22 h,
    /// so they outlive <see cref="ProviderTtl"/> of 48 h). Default 22 hours; <see cref="Timeout.InfiniteTimeSpan"/>
    /// turns it off.</summary>
    public TimeSpan RepublishInterval { get; set; } = TimeSpan.FromHours(22);

    /// <summary>Keys we provide and records we put that are republished; beyond, the oldest stop being republished.
    /// Default 1,024.</summary>
    public int MaxRepublished { get; set; } = 1_024;

    /// <summary>A SQLite file keeping provider and value records across restarts (created when missing; expired rows
    /// are deleted). Default: none (in memory only).</summary>
    public string? DatabasePath { get; set; }

    /// <summary>The clock of expiry, refresh and republishing. Default: the host's
    /// (<see cref="Host.P2PHost.TimeProvider"/>).</summary>
    public TimeProvider? TimeProvider { get; set; }

    /// <exception cref="ArgumentException">A size, count or interval is out of range.</exception>
    internal void Validate()
    {
        if (BucketSize < 1 || Alpha < 1)
        {
            throw new ArgumentException("BucketSize and Alpha must be at least 1.");
        }
        if (MaxRecordSize < 1 || MaxRecords < 1 || ReplacementCacheSize < 0 || MaxRepublished < 0 || MaxProvidersPerKey < 1 || MaxProviderKeys < 1)
        {
            throw new ArgumentException("MaxRecordSize, MaxRecords, MaxProvidersPerKey and MaxProviderKeys must be positive; ReplacementCacheSize and MaxRepublished not negative.");
        }
        if (RecordTtl <= TimeSpan.Zero || ProviderTtl <= TimeSpan.Zero
            || (RefreshInterval <= TimeSpan.Zero && RefreshInterval != Timeout.InfiniteTimeSpan)
            || (RepublishInterval <= TimeSpan.Zero && RepublishInterval != Timeout.InfiniteTimeSpan))
        {
            throw new ArgumentException("RecordTtl and ProviderTtl must be positive; RefreshInterval and RepublishInterval positive or infinite.");
        }
    }
}
