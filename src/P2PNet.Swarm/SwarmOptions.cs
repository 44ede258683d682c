namespace P2PNet.Swarm;

/// <summary>Settings of <see cref="SwarmOwner"/> and <see cref="SwarmMember"/>. Every value has a documented default.</summary>
public sealed class SwarmOptions
{
    /// <summary>How far a key request's or notification's timestamp may be from our clock. Default: 2 minutes.</summary>
    public TimeSpan MaxClockSkew { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How long the previous key stays accepted inbound after a rotation. Default: 10 minutes.</summary>
    public TimeSpan RotationGracePeriod { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>The most request nonces remembered to refuse replays; when full of unexpired nonces new requests are
    /// refused as busy. Default: 10,000.</summary>
    public int MaxRememberedNonces { get; set; } = 10_000;

    /// <summary>The most request nonces remembered for one requester (within <see cref="MaxRememberedNonces"/>): a
    /// peer over its share is refused as busy, so one authorised peer that floods requests cannot crowd the others out.
    /// Default: 32 (a member makes a handful of requests per freshness window).</summary>
    public int MaxRememberedNoncesPerPeer { get; set; } = 32;

    /// <summary>Time allowed for one key exchange or notification, each side. Default: 15 seconds.</summary>
    public TimeSpan ExchangeTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>The largest key-exchange or notification message accepted. Default: 16 KiB.</summary>
    public int MaxMessageSize { get; set; } = 16 * 1024;

    /// <summary>Member only: the first wait before fetching the key again after a failed fetch (the owner was
    /// unreachable, busy, or its answer did not verify); each further failure doubles it up to
    /// <see cref="RefetchMaxBackoff"/>. Retries go on until a fetch succeeds, the owner says we are not authorised, or
    /// the member is disposed. Default: 1 second.</summary>
    public TimeSpan RefetchInitialBackoff { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Member only: the longest wait between two fetch retries (see <see cref="RefetchInitialBackoff"/>). Default: 2 minutes.</summary>
    public TimeSpan RefetchMaxBackoff { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Owner only: close connections from peers that are not authorised while the owner is in the private
    /// swarm (someone holding a leaked key, or a revoked peer inside the grace period). Default: true.</summary>
    public bool DisconnectUnauthorizedPeers { get; set; } = true;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxClockSkew, TimeSpan.Zero, nameof(MaxClockSkew));
        ArgumentOutOfRangeException.ThrowIfLessThan(RotationGracePeriod, TimeSpan.Zero, nameof(RotationGracePeriod));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRememberedNonces, 1, nameof(MaxRememberedNonces));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRememberedNoncesPerPeer, 1, nameof(MaxRememberedNoncesPerPeer));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ExchangeTimeout, TimeSpan.Zero, nameof(ExchangeTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxMessageSize, 1024, nameof(MaxMessageSize));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(RefetchInitialBackoff, TimeSpan.Zero, nameof(RefetchInitialBackoff));
        ArgumentOutOfRangeException.ThrowIfLessThan(RefetchMaxBackoff, RefetchInitialBackoff, nameof(RefetchMaxBackoff));
    }
}
