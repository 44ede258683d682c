using Microsoft.Extensions.Logging;
using P2PNet.Peers;

namespace P2PNet.Protocols.PubSub;

internal static partial class GossipSubLog
{
    [LoggerMessage(1751, LogLevel.Debug, "Pubsub peer {Peer} joined on {Protocol}")]
    public static partial void PeerJoined(ILogger logger, PeerId peer, string protocol);

    [LoggerMessage(1752, LogLevel.Debug, "Pubsub peer {Peer} left")]
    public static partial void PeerLeft(ILogger logger, PeerId peer);

    [LoggerMessage(1753, LogLevel.Debug, "Pubsub stream with {Peer} ended")]
    public static partial void StreamFailed(ILogger logger, PeerId peer, Exception error);

    [LoggerMessage(1754, LogLevel.Debug, "Dropped a message on {Topic} from {Peer}: {Reason}")]
    public static partial void MessageRejected(ILogger logger, string topic, PeerId peer, string reason);

    [LoggerMessage(1755, LogLevel.Debug, "Ignored an RPC from graylisted peer {Peer} (score {Score})")]
    public static partial void Graylisted(ILogger logger, PeerId peer, double score);

    [LoggerMessage(1756, LogLevel.Debug, "Outbound queue of {Peer} is full: RPC dropped")]
    public static partial void QueueFull(ILogger logger, PeerId peer);

    [LoggerMessage(1757, LogLevel.Warning, "A heartbeat failed")]
    public static partial void HeartbeatFailed(ILogger logger, Exception error);

    [LoggerMessage(1758, LogLevel.Debug, "Peer exchange dial of {Peer} failed")]
    public static partial void PeerExchangeDialFailed(ILogger logger, PeerId peer, Exception error);
}
