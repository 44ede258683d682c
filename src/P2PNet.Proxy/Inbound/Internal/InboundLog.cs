using Microsoft.Extensions.Logging;

namespace P2PNet.Proxy.Inbound.Internal;

/// <summary>The inbound forwarder's log messages (source-generated).</summary>
internal static partial class InboundLog
{
    [LoggerMessage(3201, LogLevel.Information, "Inbound forwarding {Public} -> {Target} through the VPN stack at {Stack}")]
    public static partial void Started(ILogger logger, string @public, string target, string stack);

    [LoggerMessage(3202, LogLevel.Debug, "Inbound connection from {Client} refused: {Limit} connections are open")]
    public static partial void OverLimit(ILogger logger, string client, int limit);

    [LoggerMessage(3203, LogLevel.Debug, "Inbound connection from {Client} to {Target} failed: {Error}")]
    public static partial void ConnectFailed(ILogger logger, string client, string target, string error);
}
