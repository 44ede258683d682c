using System.Net;
using Microsoft.Extensions.Logging;

namespace P2PNet.Vpn.Gateway.Internal;

// Event ids 7450–7469: the rootless egress (docs/architecture.md, "Logging: event ids").
internal static partial class EgressLog
{
    [LoggerMessage(EventId = 7450, Level = LogLevel.Information, Message = "Rootless egress started (MTU {Mtu}, local address {LocalAddress})")]
    public static partial void Started(ILogger logger, int mtu, string localAddress);

    [LoggerMessage(EventId = 7451, Level = LogLevel.Debug, Message = "TCP {Member} -> {Destination}: connect failed ({Reason}); the member gets RST")]
    public static partial void ConnectFailed(ILogger logger, IPEndPoint member, IPEndPoint destination, string reason);

    [LoggerMessage(EventId = 7452, Level = LogLevel.Debug, Message = "TCP {Member} -> {Destination} open")]
    public static partial void TcpFlowOpened(ILogger logger, IPEndPoint member, IPEndPoint destination);

    [LoggerMessage(EventId = 7453, Level = LogLevel.Debug, Message = "TCP {Member} -> {Destination} closed: {Outcome}")]
    public static partial void TcpFlowClosed(ILogger logger, IPEndPoint member, IPEndPoint destination, string outcome);

    [LoggerMessage(EventId = 7454, Level = LogLevel.Debug, Message = "UDP {Member} -> {Destination} open")]
    public static partial void UdpFlowOpened(ILogger logger, IPEndPoint member, IPEndPoint destination);

    [LoggerMessage(EventId = 7455, Level = LogLevel.Debug, Message = "UDP {Member} -> {Destination} closed: {Outcome}")]
    public static partial void UdpFlowClosed(ILogger logger, IPEndPoint member, IPEndPoint destination, string outcome);

    [LoggerMessage(EventId = 7456, Level = LogLevel.Debug, Message = "Packet dropped: {Reason}")]
    public static partial void Dropped(ILogger logger, RootlessEgressDropReason reason);

    [LoggerMessage(EventId = 7457, Level = LogLevel.Warning, Message = "Reading from the VPN device failed; the egress stops: {Reason}")]
    public static partial void DeviceReadFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 7458, Level = LogLevel.Warning, Message = "Writing a packet into the VPN failed (packet lost): {Reason}")]
    public static partial void DeviceWriteFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 7459, Level = LogLevel.Error, Message = "Processing a packet from the VPN failed (packet dropped): {Reason}")]
    public static partial void PacketFailed(ILogger logger, Exception exception, string reason);

    [LoggerMessage(EventId = 7460, Level = LogLevel.Debug, Message = "Echo request to {Destination} unanswered: {Outcome}")]
    public static partial void PingUnanswered(ILogger logger, IPAddress destination, string outcome);

    [LoggerMessage(EventId = 7461, Level = LogLevel.Information, Message = "Rootless egress stopped: {TcpFlows} TCP and {UdpFlows} UDP flows closed")]
    public static partial void Stopped(ILogger logger, int tcpFlows, int udpFlows);
}
