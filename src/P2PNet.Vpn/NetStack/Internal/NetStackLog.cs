using System.Net;
using Microsoft.Extensions.Logging;

namespace P2PNet.Vpn.NetStack.Internal;

internal static partial class NetStackLog
{
    [LoggerMessage(EventId = 7400, Level = LogLevel.Information, Message = "Network stack {Address} started (MTU {Mtu})")]
    public static partial void Started(ILogger logger, IPAddress address, int mtu);

    [LoggerMessage(EventId = 7401, Level = LogLevel.Debug, Message = "TCP {Local} <-> {Remote} established")]
    public static partial void Established(ILogger logger, IPEndPoint local, IPEndPoint remote);

    [LoggerMessage(EventId = 7402, Level = LogLevel.Debug, Message = "TCP {Local} <-> {Remote} failed: {Error}")]
    public static partial void ConnectionFailed(ILogger logger, IPEndPoint local, IPEndPoint remote, TcpError error);

    [LoggerMessage(EventId = 7403, Level = LogLevel.Warning, Message = "Writing a packet to the device failed: {Reason}")]
    public static partial void DeviceWriteFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 7404, Level = LogLevel.Warning, Message = "Reading from the device failed; the stack stops: {Reason}")]
    public static partial void DeviceReadFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 7405, Level = LogLevel.Error, Message = "Processing a packet failed (packet dropped): {Reason}")]
    public static partial void PacketFailed(ILogger logger, Exception exception, string reason);
}
