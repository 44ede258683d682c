namespace P2PNet.Vpn.NetStack;

/// <summary>A snapshot of one TCP connection's counters and congestion state (<see cref="TcpConnection.GetStatistics"/>).</summary>
/// <param name="State">The connection's state.</param>
/// <param name="BytesSent">Payload bytes acknowledged by the peer.</param>
/// <param name="BytesReceived">Payload bytes received in order.</param>
/// <param name="SegmentsSent">Segments sent, retransmissions included.</param>
/// <param name="SegmentsReceived">Segments received for this connection.</param>
/// <param name="Retransmits">Segments sent again (timeouts, fast retransmit, SACK holes).</param>
/// <param name="Timeouts">Retransmission timeouts.</param>
/// <param name="FastRetransmits">Entries into fast recovery.</param>
/// <param name="SmoothedRtt">SRTT (RFC 6298), zero before the first sample.</param>
/// <param name="RetransmissionTimeout">The current RTO.</param>
/// <param name="CongestionWindow">cwnd in bytes.</param>
/// <param name="SlowStartThreshold">ssthresh in bytes (<see cref="long.MaxValue"/>-like before the first loss).</param>
/// <param name="SendMss">The MSS this side sends with.</param>
/// <param name="WindowScalingEnabled">Whether both sides agreed on window scaling (RFC 7323).</param>
/// <param name="TimestampsEnabled">Whether both sides agreed on timestamps (RFC 7323).</param>
/// <param name="SackEnabled">Whether both sides agreed on SACK (RFC 2018).</param>
/// <param name="LostRetransmits">Retransmissions found lost again during SACK recovery and resent before the RTO.</param>
/// <param name="TailLossProbes">Tail loss probes sent (RFC 8985 §7).</param>
/// <param name="PathMtu">The path MTU the connection sends for: the stack's MTU until an ICMP "fragmentation needed"
/// lowers it (RFC 1191).</param>
public readonly record struct TcpConnectionStatistics(
    TcpState State,
    long BytesSent,
    long BytesReceived,
    long SegmentsSent,
    long SegmentsReceived,
    long Retransmits,
    long Timeouts,
    long FastRetransmits,
    TimeSpan SmoothedRtt,
    TimeSpan RetransmissionTimeout,
    long CongestionWindow,
    long SlowStartThreshold,
    int SendMss,
    bool WindowScalingEnabled,
    bool TimestampsEnabled,
    bool SackEnabled,
    long LostRetransmits,
    long TailLossProbes,
    int PathMtu);
