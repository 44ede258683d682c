using Microsoft.Extensions.Logging;
using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Host.Internal;

internal static partial class HostLog
{
    [LoggerMessage(1001, LogLevel.Information, "Listening on {Address}")]
    public static partial void Listening(ILogger logger, Multiaddr address);

    [LoggerMessage(1002, LogLevel.Debug, "Connection {Id} to {Peer} ({Direction}) at {Address} is ready")]
    public static partial void ConnectionReady(ILogger logger, string id, PeerId peer, ConnectionDirection direction, Multiaddr address);

    [LoggerMessage(1003, LogLevel.Debug, "Connection {Id} to {Peer} ended: {Reason}")]
    public static partial void ConnectionEnded(ILogger logger, string id, PeerId peer, string reason);

    [LoggerMessage(1004, LogLevel.Information, "Inbound connection from {Address} failed its handshake: {Reason} ({Suppressed} similar lines not logged)")]
    public static partial void InboundUpgradeFailed(ILogger logger, Multiaddr address, string reason, long suppressed);

    [LoggerMessage(1005, LogLevel.Debug, "Inbound stream {Protocol} from {Peer} failed: {Reason}")]
    public static partial void InboundStreamFailed(ILogger logger, string protocol, PeerId peer, string reason);

    [LoggerMessage(1006, LogLevel.Debug, "Graceful close of connection {Id} failed: {Reason}")]
    public static partial void GracefulCloseFailed(ILogger logger, string id, string reason);

    [LoggerMessage(1007, LogLevel.Warning, "Refused inbound connection from {Address}: {Reason} ({Suppressed} similar lines not logged)")]
    public static partial void InboundRefused(ILogger logger, Multiaddr address, string reason, long suppressed);

    [LoggerMessage(1008, LogLevel.Debug, "Identify with {Peer} failed: {Reason}")]
    public static partial void IdentifyFailed(ILogger logger, PeerId peer, string reason);

    [LoggerMessage(1009, LogLevel.Debug, "Closing idle connection {Id} to {Peer}")]
    public static partial void ClosingIdle(ILogger logger, string id, PeerId peer);

    [LoggerMessage(1010, LogLevel.Warning, "Accepting on {Address} failed: {Reason}")]
    public static partial void AcceptFailed(ILogger logger, Multiaddr address, string reason);

    [LoggerMessage(1011, LogLevel.Debug, "Identify push to {Peer} failed: {Reason}")]
    public static partial void IdentifyPushFailed(ILogger logger, PeerId peer, string reason);

    [LoggerMessage(1012, LogLevel.Warning, "Identify from {Peer} carried a public key that does not match its peer id; ignored ({Suppressed} similar lines not logged)")]
    public static partial void IdentifyKeyMismatch(ILogger logger, PeerId peer, long suppressed);

    [LoggerMessage(1060, LogLevel.Information, "Aborting connection {Id} to {Peer}: {Reason}")]
    public static partial void ConnectionAborted(ILogger logger, string id, PeerId peer, string reason);

    [LoggerMessage(1061, LogLevel.Warning, "Closing connection {Id}: a step did not end within {Grace} of the abort; left behind")]
    public static partial void CloseStepAbandoned(ILogger logger, string id, TimeSpan grace);

    [LoggerMessage(1062, LogLevel.Warning, "Stopping the host: {What} did not finish within the shutdown timeout of {Timeout}")]
    public static partial void ShutdownIncomplete(ILogger logger, string what, TimeSpan timeout);

    [LoggerMessage(1063, LogLevel.Debug, "Stopping the host: {What} failed: {Reason}")]
    public static partial void ShutdownStepFailed(ILogger logger, string what, string reason);

    [LoggerMessage(1040, LogLevel.Debug, "Reconnecting to stored peer {Peer} failed: {Reason}")]
    public static partial void ReconnectFailed(ILogger logger, PeerId peer, string reason);

    [LoggerMessage(1050, LogLevel.Warning, "A handler of {Event} threw")]
    public static partial void EventHandlerFailed(ILogger logger, Exception exception, string @event);

    [LoggerMessage(1064, LogLevel.Information, "Reachability is now {Reachability}")]
    public static partial void ReachabilityChanged(ILogger logger, Reachability reachability);

    [LoggerMessage(1065, LogLevel.Debug, "Dialing {Address} from the listening port failed ({Reason}); dialing again from an ephemeral port")]
    public static partial void DialRetried(ILogger logger, P2PNet.Multiformats.Multiaddr address, string reason);

    [LoggerMessage(1066, LogLevel.Debug, "{Peer} observes us at {Observed} (connection {Local} -> {Remote}); counted: {Counted}")]
    public static partial void Observed(ILogger logger, P2PNet.Peers.PeerId peer, P2PNet.Multiformats.Multiaddr observed,
        P2PNet.Multiformats.Multiaddr local, P2PNet.Multiformats.Multiaddr remote, bool counted);
}
