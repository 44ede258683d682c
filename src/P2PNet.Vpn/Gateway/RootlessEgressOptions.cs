using System.Net;
using System.Net.Sockets;

namespace P2PNet.Vpn.Gateway;

/// <summary>Limits and timers of a <see cref="RootlessEgress"/>. Every limit has a documented default; together they bound
/// what hostile or runaway members can make the gateway hold (sockets, flows, memory, concurrent pings).</summary>
/// <remarks>Worst-case TCP buffer memory is <see cref="MaxTcpFlows"/> × 2 × <see cref="TcpBufferSize"/> (the buffers
/// are pooled and held only while they hold data), plus one 64 KiB copy buffer per direction of a flow that is moving
/// data at that moment.</remarks>
public sealed class RootlessEgressOptions
{
    /// <summary>The VPN's MTU: the largest IP packet the egress writes into the VPN (larger UDP and ICMP replies are sent
    /// as IPv4 fragments); the TCP MSS it announces to members is MTU − 40. 576–65535. Default 1420, as
    /// <see cref="VpnOptions.Mtu"/>.</summary>
    public int Mtu { get; set; } = 1420;

    /// <summary>The gateway's own VPN address, or null (the default) when it has none. Echo requests to it are answered;
    /// TCP to it is refused with RST and UDP to it is dropped: the egress forwards, it serves nothing itself.</summary>
    public IPAddress? LocalAddress { get; set; }

    /// <summary>TCP flows (connecting or open) at most; a SYN beyond it is refused with RST and counted as
    /// <see cref="RootlessEgressDropReason.TcpFlowLimit"/>. Default 1024.</summary>
    public int MaxTcpFlows { get; set; } = 1024;

    /// <summary>Outgoing TCP connects in progress at most (the half-open flows a SYN flood creates); further SYNs are
    /// dropped (the member retries them) and counted as <see cref="RootlessEgressDropReason.PendingConnectLimit"/>.
    /// Default 128.</summary>
    public int MaxPendingConnects { get; set; } = 128;

    /// <summary>TCP destination addresses served at once at most (the egress terminates the members' TCP in one
    /// user-space stack per destination address). A SYN to a further address is refused with RST and counted as
    /// <see cref="RootlessEgressDropReason.DestinationLimit"/> unless an idle destination can be let go. Default 256.</summary>
    public int MaxDestinations { get; set; } = 256;

    /// <summary>UDP flows (member address and port, destination address and port) at most; datagrams of further flows are
    /// dropped and counted as <see cref="RootlessEgressDropReason.UdpFlowLimit"/>. Default 512.</summary>
    public int MaxUdpFlows { get; set; } = 512;

    /// <summary>Echo requests to Internet hosts in flight at most; further ones are dropped and counted as
    /// <see cref="RootlessEgressDropReason.PingLimit"/>. Default 16.</summary>
    public int MaxConcurrentPings { get; set; } = 16;

    /// <summary>How long an outgoing TCP connect may take before the member's SYN is answered with RST; also how long the
    /// member then has to complete its handshake before the flow is reset. Default 10 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A TCP flow that moves no byte in either direction this long is reset on both sides. Default 30 min.</summary>
    public TimeSpan TcpIdleTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>A UDP flow that moves no datagram in either direction this long is closed (its socket and port are let
    /// go). Default 60 s.</summary>
    public TimeSpan UdpIdleTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long an echo request to an Internet host waits for its reply before it is given up (no reply goes to
    /// the member, as when a host does not answer). Default 4 s.</summary>
    public TimeSpan PingTimeout { get; set; } = TimeSpan.FromSeconds(4);

    /// <summary>How long a destination's user-space stack stays without flows or connections (TIME_WAIT included)
    /// before it is let go. Default 30 s.</summary>
    public TimeSpan DestinationIdleTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Send and receive buffer of the member's side of each TCP flow: its window towards the member. 4 KiB–64
    /// MiB. Default 256 KiB, enough for about 100 Mbit/s per flow at 20 ms round trip.</summary>
    public int TcpBufferSize { get; set; } = 256 * 1024;

    /// <summary>Checks every value; throws <see cref="ArgumentException"/> (or <see cref="ArgumentOutOfRangeException"/>)
    /// naming the first one out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(Mtu, 576, nameof(Mtu));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(Mtu, 65535, nameof(Mtu));
        if (LocalAddress is not null && LocalAddress.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new ArgumentException($"The egress's local address must be IPv4, not {LocalAddress}.", nameof(LocalAddress));
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxTcpFlows, 1, nameof(MaxTcpFlows));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPendingConnects, 1, nameof(MaxPendingConnects));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxDestinations, 1, nameof(MaxDestinations));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxUdpFlows, 1, nameof(MaxUdpFlows));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConcurrentPings, 1, nameof(MaxConcurrentPings));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ConnectTimeout, TimeSpan.Zero, nameof(ConnectTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(TcpIdleTimeout, TimeSpan.Zero, nameof(TcpIdleTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(UdpIdleTimeout, TimeSpan.Zero, nameof(UdpIdleTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(PingTimeout, TimeSpan.Zero, nameof(PingTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(DestinationIdleTimeout, TimeSpan.Zero, nameof(DestinationIdleTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThan(TcpBufferSize, 4096, nameof(TcpBufferSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(TcpBufferSize, 64 * 1024 * 1024, nameof(TcpBufferSize));
    }
}
