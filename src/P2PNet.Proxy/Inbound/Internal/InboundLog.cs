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

    [LoggerMessage(3204, LogLevel.Debug, "Inbound connection from {Client} refused by the per-source limits: {Verdict}")]
    public static partial void SourceLimited(ILogger logger, string client, string verdict);

    [LoggerMessage(3205, LogLevel.Information, "Inbound proxy: {Protocol} probe socket bound at {Address}")]
    public static partial void ProbeBound(ILogger logger, string protocol, string address);

    [LoggerMessage(3206, LogLevel.Information, "Inbound proxy: {Protocol} socket at {Address} unbound")]
    public static partial void Unbound(ILogger logger, string protocol, string address);

    [LoggerMessage(3207, LogLevel.Information, "Inbound proxy: {Protocol} gateway {Address} -> {Target} in VPN {VpnId} (activity {ActivityId})")]
    public static partial void GatewayBound(ILogger logger, string protocol, string address, string target, string vpnId, string activityId);

    [LoggerMessage(3208, LogLevel.Debug, "Inbound probe request from {Client} rejected: {Reason}")]
    public static partial void ProbeRejected(ILogger logger, string client, string reason);

    [LoggerMessage(3209, LogLevel.Debug, "Inbound UDP flow from {Client} to {Target} ended: {Reason}")]
    public static partial void FlowEnded(ILogger logger, string client, string target, string reason);
}
