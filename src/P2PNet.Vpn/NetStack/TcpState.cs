namespace P2PNet.Vpn.NetStack;

/// <summary>TCP connection states (RFC 9293 §3.3.2).</summary>
public enum TcpState
{
    /// <summary>No connection.</summary>
    Closed,

    /// <summary>SYN sent, waiting for the peer's SYN.</summary>
    SynSent,

    /// <summary>SYN received and answered, waiting for the acknowledgment of ours.</summary>
    SynReceived,

    /// <summary>Open: data flows both ways.</summary>
    Established,

    /// <summary>Our FIN sent, not yet acknowledged.</summary>
    FinWait1,

    /// <summary>Our FIN acknowledged; the peer may still send.</summary>
    FinWait2,

    /// <summary>The peer's FIN received; we may still send.</summary>
    CloseWait,

    /// <summary>Both FINs sent at once; waiting for the acknowledgment of ours.</summary>
    Closing,

    /// <summary>The peer closed first; our FIN sent, waiting for its acknowledgment.</summary>
    LastAck,

    /// <summary>Both sides closed; waiting out old duplicates (2 × MSL).</summary>
    TimeWait,
}
