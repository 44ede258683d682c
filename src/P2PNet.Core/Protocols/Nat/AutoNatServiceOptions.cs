namespace P2PNet.Protocols.Nat;

/// <summary>Settings of <see cref="AutoNatService"/>.</summary>
public sealed class AutoNatServiceOptions
{
    /// <summary>Dial back private-use, shared, link-local and loopback addresses too. For labs and tests whose "public"
    /// side uses private ranges; a server on the Internet must leave it off. Default false.</summary>
    public bool AllowPrivateAddresses { get; set; }

    /// <summary>Bytes a v2 client must send before we dial an address whose IP is not the one it connects from
    /// (the amplification guard; the spec asks 30 to 100 kB). Default 30,000.</summary>
    public int DialDataBytes { get; set; } = 30_000;

    /// <summary>How long one dial-back (connect, handshake, nonce) may take. Default 5 seconds.</summary>
    public TimeSpan DialBackTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a request may take end to end, dial data included. Default 30 seconds.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Requests served at once, all peers; more are answered <c>E_REQUEST_REJECTED</c>. Default 8.</summary>
    public int MaxConcurrentRequests { get; set; } = 8;

    /// <summary>Requests one peer may make per minute; more are rejected. Default 12.</summary>
    public int MaxRequestsPerPeerPerMinute { get; set; } = 12;

    /// <summary>Addresses of one v1 request that are tried (in order) before answering <c>E_DIAL_ERROR</c>. Default 4.</summary>
    public int MaxV1DialAttempts { get; set; } = 4;
}
