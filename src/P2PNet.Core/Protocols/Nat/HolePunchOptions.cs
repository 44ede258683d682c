namespace P2PNet.Protocols.Nat;

/// <summary>Settings of <see cref="HolePunchService"/>.</summary>
public sealed class HolePunchOptions
{
    /// <summary>Synchronised attempts before giving up (the spec: the inbound peer retries twice). Default 3.</summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>How long to wait for the other side's CONNECT or SYNC. Default 10 seconds.</summary>
    public TimeSpan MessageTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long one direct dial of an attempt may take (a hole punch's SYN may be dropped once by a NAT
    /// that has not seen ours yet and is retransmitted after a second). Default 5 seconds.</summary>
    public TimeSpan DialTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long the relayed connection stays open once a direct one exists, so streams on it can finish
    /// (new streams take the direct connection). Default 2 seconds.</summary>
    public TimeSpan RelayedCloseDelay { get; set; } = TimeSpan.FromSeconds(2);
}
