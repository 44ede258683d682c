using Microsoft.Extensions.Logging;

namespace P2PNet.Proxy.Tunnels.Internal;

/// <summary>The tunnels' log messages (source-generated).</summary>
internal static partial class TunnelLog
{
    [LoggerMessage(3101, LogLevel.Information, "Device {Device} ({Peer}) registered {Count} services")]
    public static partial void DeviceRegistered(ILogger logger, string device, string peer, int count);

    [LoggerMessage(3102, LogLevel.Information, "Device {Device} ({Peer}) went offline")]
    public static partial void DeviceOffline(ILogger logger, string device, string peer);

    [LoggerMessage(3103, LogLevel.Warning, "Registration from {Peer} refused: {Status} ({Message})")]
    public static partial void RegistrationRefused(ILogger logger, string peer, TunnelStatusCode status, string message);

    [LoggerMessage(3104, LogLevel.Warning, "Device {Device} cut off: its token was revoked")]
    public static partial void DeviceRevoked(ILogger logger, string device);

    [LoggerMessage(3105, LogLevel.Debug, "Public connection from {Remote} to {Device}/{Service} failed: {Error}")]
    public static partial void ConnectionFailed(ILogger logger, string remote, string device, string service, string error);

    [LoggerMessage(3106, LogLevel.Debug, "Front connection from {Remote} refused: {Reason}")]
    public static partial void FrontRefused(ILogger logger, string remote, string reason);

    [LoggerMessage(3107, LogLevel.Warning, "Tunnel registration failed, retrying in {Delay}: {Error}")]
    public static partial void RegistrationRetry(ILogger logger, TimeSpan delay, string error);

    [LoggerMessage(3108, LogLevel.Debug, "Tunnelled connection to {Service} failed: {Error}")]
    public static partial void LocalConnectFailed(ILogger logger, string service, string error);

    [LoggerMessage(3109, LogLevel.Warning, "Forward stream from {Peer} for '{Target}' refused: {Reason}")]
    public static partial void ForwardRefused(ILogger logger, string peer, string target, string reason);

    [LoggerMessage(3110, LogLevel.Warning, "Tunnel control stream failed: {Error}")]
    public static partial void ControlFailed(ILogger logger, string error);
}
