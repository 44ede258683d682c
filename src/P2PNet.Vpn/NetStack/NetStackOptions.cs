namespace P2PNet.Vpn.NetStack;

/// <summary>Limits, buffers and timers of an <see cref="IPStack"/>. Defaults follow Linux where Linux has one.</summary>
public sealed class NetStackOptions
{
    /// <summary>The link MTU: IP packets are at most this long; the MSS this stack announces is MTU − 40. Default 1500.</summary>
    public int Mtu { get; set; } = 1500;

    /// <summary>Receive buffer per TCP connection: the largest window this side offers. Default 1 MiB. The buffer is
    /// taken from a pool only while it holds data, so an idle connection holds none.</summary>
    public int ReceiveBufferSize { get; set; } = 1024 * 1024;

    /// <summary>Send buffer per TCP connection: writes wait while this much is unacknowledged. Default 1 MiB, pooled
    /// like the receive buffer.</summary>
    public int SendBufferSize { get; set; } = 1024 * 1024;

    /// <summary>The congestion controller. Default <see cref="CongestionControlAlgorithm.Cubic"/> (as Linux).</summary>
    public CongestionControlAlgorithm CongestionControl { get; set; } = CongestionControlAlgorithm.Cubic;

    /// <summary>Initial congestion window in segments (RFC 6928). Default 10.</summary>
    public int InitialCongestionWindow { get; set; } = 10;

    /// <summary>Coalesce small writes while data is unacknowledged (Nagle, RFC 9293 §3.7.4). Default false: every write
    /// is sent at once, as with TCP_NODELAY, which suits the request/response traffic a proxy carries.</summary>
    public bool Nagle { get; set; }

    /// <summary>Offer window scaling (RFC 7323 §2). Default true.</summary>
    public bool WindowScaling { get; set; } = true;

    /// <summary>Offer timestamps (RFC 7323 §3). Default true.</summary>
    public bool Timestamps { get; set; } = true;

    /// <summary>Offer selective acknowledgments (RFC 2018). Default true.</summary>
    public bool Sack { get; set; } = true;

    /// <summary>Smallest retransmission timeout. Default 200 ms (Linux's TCP_RTO_MIN; RFC 6298 suggests 1 s).</summary>
    public TimeSpan MinRetransmissionTimeout { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Largest retransmission timeout. Default 120 s (Linux's TCP_RTO_MAX).</summary>
    public TimeSpan MaxRetransmissionTimeout { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>RTO before the first RTT sample (RFC 6298 §2.1). Default 1 s.</summary>
    public TimeSpan InitialRetransmissionTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Retransmissions of one segment before the connection fails with <see cref="TcpError.TimedOut"/>.
    /// Default 15 (Linux's tcp_retries2).</summary>
    public int MaxRetransmissions { get; set; } = 15;

    /// <summary>SYN retransmissions before a connect fails. Default 6 (Linux's tcp_syn_retries).</summary>
    public int MaxSynRetransmissions { get; set; } = 6;

    /// <summary>How long an acknowledgment may wait for a second segment or outgoing data (RFC 9293 §3.8.6.3 allows up
    /// to 500 ms). Default 40 ms (Linux's minimum).</summary>
    public TimeSpan DelayedAckTimeout { get; set; } = TimeSpan.FromMilliseconds(40);

    /// <summary>How long a closed connection stays in TIME_WAIT (2 × MSL). Default 60 s (Linux).</summary>
    public TimeSpan TimeWaitDuration { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Idle time before keep-alive probes start (RFC 9293 §3.8.4); null (the default) sends none.</summary>
    public TimeSpan? KeepAliveIdle { get; set; }

    /// <summary>Time between unanswered keep-alive probes. Default 75 s (Linux).</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(75);

    /// <summary>Unanswered keep-alive probes before the connection fails. Default 9 (Linux).</summary>
    public int KeepAliveProbes { get; set; } = 9;

    /// <summary>Out-of-order byte ranges a connection keeps (each in its receive buffer); a segment that would need
    /// another range is dropped. Default 32.</summary>
    public int MaxOutOfOrderRanges { get; set; } = 32;

    /// <summary>Half-open connections (SYN received, handshake not finished) the stack keeps across all listeners; further
    /// SYNs are dropped until some complete or time out, so a SYN flood cannot grow memory. Default 1024.</summary>
    public int MaxHalfOpenConnections { get; set; } = 1024;

    /// <summary>Default accept backlog of <see cref="IPStack.ListenTcp"/>. Default 128.</summary>
    public int ListenBacklog { get; set; } = 128;

    /// <summary>Datagrams a UDP socket queues for the application before dropping. Default 512.</summary>
    public int UdpReceiveQueue { get; set; } = 512;

    /// <summary>ICMP errors (port unreachable) sent per second at most (RFC 1812 §4.3.2.8): a token bucket refilled at
    /// this rate that holds as many, so a burst of this many may go at once. Default 100.</summary>
    public int IcmpErrorsPerSecond { get; set; } = 100;

    /// <summary>IPv4 datagrams being reassembled from fragments at once, at most; a fragment of a further datagram
    /// evicts the oldest. Default 64.</summary>
    public int MaxReassemblyDatagrams { get; set; } = 64;

    /// <summary>Fragment bytes held for reassembly over all datagrams, at most; the oldest datagrams are evicted to make
    /// room. Default 4 MiB (Linux's ipfrag_high_thresh).</summary>
    public int MaxReassemblyBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>How long a datagram may take to arrive in full after its first fragment before its fragments are
    /// dropped (RFC 791 suggests 15–60 s). Default 30 s (Linux's ipfrag_time).</summary>
    public TimeSpan ReassemblyTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Send TCP data as super-packets of up to 64 KiB that the device cuts into MSS-sized segments (TSO), when
    /// the device offers segmentation offload (a <see cref="Tun.TunDevice"/> opened with offload). One device write
    /// then carries up to 44 segments instead of one. Default true; without such a device it has no effect.</summary>
    public bool SegmentationOffload { get; set; } = true;

    /// <summary>Resolution of the stack's timers. Default 10 ms.</summary>
    public TimeSpan TimerInterval { get; set; } = TimeSpan.FromMilliseconds(10);

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(Mtu, 576, nameof(Mtu));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(Mtu, 65535, nameof(Mtu));
        ArgumentOutOfRangeException.ThrowIfLessThan(ReceiveBufferSize, 4096, nameof(ReceiveBufferSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ReceiveBufferSize, 1 << 30, nameof(ReceiveBufferSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(SendBufferSize, 4096, nameof(SendBufferSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(SendBufferSize, 1 << 30, nameof(SendBufferSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(InitialCongestionWindow, 1, nameof(InitialCongestionWindow));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxOutOfOrderRanges, 1, nameof(MaxOutOfOrderRanges));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxHalfOpenConnections, 1, nameof(MaxHalfOpenConnections));
        ArgumentOutOfRangeException.ThrowIfLessThan(ListenBacklog, 1, nameof(ListenBacklog));
        ArgumentOutOfRangeException.ThrowIfLessThan(UdpReceiveQueue, 1, nameof(UdpReceiveQueue));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxReassemblyDatagrams, 1, nameof(MaxReassemblyDatagrams));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxReassemblyBytes, 576, nameof(MaxReassemblyBytes));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ReassemblyTimeout, TimeSpan.Zero, nameof(ReassemblyTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(TimerInterval, TimeSpan.Zero, nameof(TimerInterval));
    }
}
