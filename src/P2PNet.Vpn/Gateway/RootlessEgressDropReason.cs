namespace P2PNet.Vpn.Gateway;

/// <summary>Why a <see cref="RootlessEgress"/> dropped or refused a packet from the VPN
/// (<see cref="RootlessEgressStatistics.Drops"/>).</summary>
public enum RootlessEgressDropReason
{
    /// <summary>Not a valid IPv4 packet, or its TCP, UDP or ICMP header is truncated or inconsistent.</summary>
    Malformed,

    /// <summary>A bad IPv4 header, TCP, UDP or ICMP checksum.</summary>
    BadChecksum,

    /// <summary>Not IPv4 (IPv6 is not forwarded yet).</summary>
    UnsupportedVersion,

    /// <summary>An IP protocol other than TCP, UDP and ICMP, or an ICMP message other than an echo request.</summary>
    UnsupportedProtocol,

    /// <summary>A fragment whose datagram could not be reassembled (overlap, too many or too large, timed out).</summary>
    Fragment,

    /// <summary>A SYN refused (RST) because <see cref="RootlessEgressOptions.MaxTcpFlows"/> flows are open.</summary>
    TcpFlowLimit,

    /// <summary>A SYN dropped because <see cref="RootlessEgressOptions.MaxPendingConnects"/> connects are in progress.</summary>
    PendingConnectLimit,

    /// <summary>A TCP segment to a further destination address beyond <see cref="RootlessEgressOptions.MaxDestinations"/>
    /// (a SYN is refused with RST).</summary>
    DestinationLimit,

    /// <summary>A TCP segment the destination's stack did not take: no such connection (answered with RST, as a host
    /// does), out of window, or a SYN flood beyond its half-open bound.</summary>
    TcpRejected,

    /// <summary>A UDP datagram of a further flow beyond <see cref="RootlessEgressOptions.MaxUdpFlows"/>.</summary>
    UdpFlowLimit,

    /// <summary>A UDP datagram the operating system would not send (no route, a destination it refuses).</summary>
    SendFailed,

    /// <summary>An echo request beyond <see cref="RootlessEgressOptions.MaxConcurrentPings"/> in flight.</summary>
    PingLimit,

    /// <summary>TCP or UDP to the gateway's own address (<see cref="RootlessEgressOptions.LocalAddress"/>); TCP is
    /// answered with RST.</summary>
    LocalAddress,
}
