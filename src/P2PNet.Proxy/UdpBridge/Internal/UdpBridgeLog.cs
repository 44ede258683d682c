using System.Net;
using System.Net.WebSockets;
using Microsoft.Extensions.Logging;

namespace P2PNet.Proxy.UdpBridge.Internal;

/// <summary>The bridge's log messages (source-generated; event ids 1–99 belong to the UDP bridge).</summary>
internal static partial class UdpBridgeLog
{
    [LoggerMessage(3001, LogLevel.Debug, "Bridge client {SessionId} from {Remote} opened UDP endpoint {UdpEndPoint}, announced as {Announced}")]
    public static partial void SessionOpened(this ILogger logger, long sessionId, string? remote, EndPoint? udpEndPoint, string announced);

    [LoggerMessage(3002, LogLevel.Debug, "Bridge client {SessionId} closed ({Reason}): {CloseStatus} {CloseDescription}")]
    public static partial void SessionClosed(this ILogger logger, long sessionId, string reason, WebSocketCloseStatus closeStatus, string closeDescription);

    [LoggerMessage(3003, LogLevel.Information, "Bridge client {SessionId} sent a malformed message and is closed: {Description}")]
    public static partial void Malformed(this ILogger logger, long sessionId, string description);

    [LoggerMessage(3004, LogLevel.Information, "Bridge refused a connection from {Remote} ({Reason}); {Suppressed} more refusals were not logged")]
    public static partial void Rejected(this ILogger logger, string? remote, string reason, long suppressed);

    [LoggerMessage(3006, LogLevel.Warning, "Bridge client {SessionId}: the UDP socket failed")]
    public static partial void UdpFailed(this ILogger logger, long sessionId, Exception exception);

    [LoggerMessage(3007, LogLevel.Debug, "Bridge client {SessionId}: the connection was lost")]
    public static partial void ConnectionLost(this ILogger logger, long sessionId, Exception exception);

    [LoggerMessage(3008, LogLevel.Warning, "Bridge client {SessionId} did not answer the close within {CloseTimeout}; aborting")]
    public static partial void CloseTimedOut(this ILogger logger, long sessionId, TimeSpan closeTimeout);

    [LoggerMessage(3009, LogLevel.Information, "Bridge shutting down: closing {Count} clients")]
    public static partial void ShuttingDown(this ILogger logger, int count);

    [LoggerMessage(3010, LogLevel.Error, "Bridge could not open a UDP socket for a client from {Remote}")]
    public static partial void UdpBindFailed(this ILogger logger, string? remote, Exception exception);

    [LoggerMessage(3011, LogLevel.Trace, "Bridge client {SessionId}: dropped a datagram going {Direction} ({Reason})")]
    public static partial void Dropped(this ILogger logger, long sessionId, RelayDirection direction, DropReason reason);
}
