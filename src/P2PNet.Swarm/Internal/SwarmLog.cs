using Microsoft.Extensions.Logging;
using P2PNet.Peers;

namespace P2PNet.Swarm.Internal;

internal static partial class SwarmLog
{
    [LoggerMessage(2001, LogLevel.Warning, "Swarm {SwarmId}: refused the key request of {Peer}: {Status} ({Reason})")]
    public static partial void RequestRefused(ILogger logger, string swarmId, PeerId peer, KeyExchangeStatus status, string reason);

    [LoggerMessage(2002, LogLevel.Information, "Swarm {SwarmId}: sent key {Fingerprint} to {Peer}")]
    public static partial void KeyShared(ILogger logger, string swarmId, PeerId peer, string fingerprint);

    [LoggerMessage(2003, LogLevel.Information, "Swarm {SwarmId}: joined with key {Fingerprint}; {Connected} bootstrap node(s) reached")]
    public static partial void Joined(ILogger logger, string swarmId, string fingerprint, int connected);

    [LoggerMessage(2004, LogLevel.Information, "Swarm {SwarmId}: left; back on the public network")]
    public static partial void Left(ILogger logger, string swarmId);

    [LoggerMessage(2005, LogLevel.Information, "Swarm {SwarmId}: key rotated to {Fingerprint}; the previous key is accepted until {GraceUntil:o}")]
    public static partial void Rotated(ILogger logger, string swarmId, string fingerprint, DateTimeOffset graceUntil);

    [LoggerMessage(2006, LogLevel.Warning, "Swarm {SwarmId}: could not notify {Peer} of the key change: {Error}")]
    public static partial void NotifyFailed(ILogger logger, string swarmId, PeerId peer, string error);

    [LoggerMessage(2007, LogLevel.Warning, "Swarm {SwarmId}: bootstrap {Address} unreachable: {Error}")]
    public static partial void BootstrapFailed(ILogger logger, string swarmId, string address, string error);

    [LoggerMessage(2008, LogLevel.Warning, "Swarm {SwarmId}: ignored a key-change notification from {Peer}: {Reason}")]
    public static partial void NotificationIgnored(ILogger logger, string swarmId, PeerId peer, string reason);

    [LoggerMessage(2009, LogLevel.Information, "Swarm {SwarmId}: closing the connections of {Peer}: {Reason}")]
    public static partial void Disconnecting(ILogger logger, string swarmId, PeerId peer, string reason);

    [LoggerMessage(2010, LogLevel.Information, "Swarm {SwarmId}: grace period over; only key {Fingerprint} is accepted")]
    public static partial void GraceEnded(ILogger logger, string swarmId, string fingerprint);

    [LoggerMessage(2011, LogLevel.Warning, "Swarm {SwarmId}: fetching the new key after a notification failed: {Error}")]
    public static partial void RefetchFailed(ILogger logger, string swarmId, string error);

    [LoggerMessage(2012, LogLevel.Warning, "Swarm {SwarmId}: fetching the key failed (attempt {Attempt}): {Error}; retrying in {Delay}")]
    public static partial void RefetchRetry(ILogger logger, string swarmId, int attempt, TimeSpan delay, string error);

    [LoggerMessage(2013, LogLevel.Warning, "Swarm {SwarmId}: the owner no longer authorises us; not fetching the key again: {Error}")]
    public static partial void RefetchRefused(ILogger logger, string swarmId, string error);

    [LoggerMessage(2014, LogLevel.Information, "Swarm {SwarmId}: refused a connection with revoked peer {Peer}")]
    public static partial void RevokedPeerRefused(ILogger logger, string swarmId, PeerId peer);

    [LoggerMessage(2050, LogLevel.Warning, "A handler of {Event} threw")]
    public static partial void EventHandlerFailed(ILogger logger, Exception exception, string @event);
}
