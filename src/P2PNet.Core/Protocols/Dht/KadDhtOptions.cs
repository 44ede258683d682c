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
}
