using Microsoft.Extensions.Logging;
using P2PNet.Peers;

namespace P2PNet.Vpn.Internal;

internal static partial class VpnLog
{
    [LoggerMessage(EventId = 7000, Level = LogLevel.Information, Message = "VPN routing table version {Version} applied: {Count} members, this member {Address}")]
    public static partial void TableApplied(ILogger logger, ulong version, int count, string address);

    [LoggerMessage(EventId = 7001, Level = LogLevel.Warning, Message = "VPN table from {Peer} rejected: {Reason}")]
    public static partial void TableRejected(ILogger logger, PeerId peer, string reason);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Debug, Message = "VPN data stream to {Peer} lost: {Reason}; redialing in {DelayMilliseconds} ms")]
    public static partial void LinkLost(ILogger logger, PeerId peer, string reason, double delayMilliseconds);

    [LoggerMessage(EventId = 7003, Level = LogLevel.Debug, Message = "VPN data stream to {Peer} up ({Direction}, {Protocol})")]
    public static partial void LinkUp(ILogger logger, PeerId peer, string direction, string protocol);

    [LoggerMessage(EventId = 7004, Level = LogLevel.Warning, Message = "VPN table push to {Peer} failed: {Reason}")]
    public static partial void PushFailed(ILogger logger, PeerId peer, string reason);

    [LoggerMessage(EventId = 7005, Level = LogLevel.Information, Message = "VPN join from {Peer}: {Outcome}")]
    public static partial void JoinHandled(ILogger logger, PeerId peer, string outcome);

    [LoggerMessage(EventId = 7006, Level = LogLevel.Warning, Message = "VPN data stream from {Peer} refused: not a member")]
    public static partial void InboundRefused(ILogger logger, PeerId peer);

    [LoggerMessage(EventId = 7007, Level = LogLevel.Error, Message = "VPN device loop failed: {Reason}")]
    public static partial void DeviceLoopFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 7008, Level = LogLevel.Warning, Message = "VPN data link to {Peer} stopped: {Reason}")]
    public static partial void LinkFailed(ILogger logger, PeerId peer, string reason);

    [LoggerMessage(EventId = 7009, Level = LogLevel.Warning, Message = "VPN member {Peer} refused table version {Version}: {Reason}")]
    public static partial void PushRefused(ILogger logger, PeerId peer, ulong version, string reason);

    [LoggerMessage(EventId = 7010, Level = LogLevel.Warning, Message = "VPN control message from {Peer} refused: {Reason}")]
    public static partial void ControlRefused(ILogger logger, PeerId peer, string reason);
}
