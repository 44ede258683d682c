using Microsoft.Extensions.Logging;
using P2PNet.Peers;

namespace P2PNet.Protocols.Dht.Internal;

internal static partial class DhtLog
{
    [LoggerMessage(EventId = 1800, Level = LogLevel.Debug, Message = "DHT: malformed message from {Peer}: {Reason}")]
    public static partial void Malformed(ILogger logger, PeerId peer, string reason);

    [LoggerMessage(EventId = 1801, Level = LogLevel.Debug, Message = "DHT: query to {Peer} failed: {Reason}")]
    public static partial void QueryFailed(ILogger logger, PeerId peer, string reason);

    [LoggerMessage(EventId = 1802, Level = LogLevel.Debug, Message = "DHT: record from {Peer} refused: {Reason}")]
    public static partial void RecordRefused(ILogger logger, PeerId peer, string reason);

    [LoggerMessage(EventId = 1803, Level = LogLevel.Debug, Message = "DHT: {Peer} failed its liveness check and left the routing table")]
    public static partial void Evicted(ILogger logger, PeerId peer);

    [LoggerMessage(EventId = 1804, Level = LogLevel.Debug, Message = "DHT: routing table refreshed ({Peers} peers)")]
    public static partial void Refreshed(ILogger logger, int peers);

    [LoggerMessage(EventId = 1805, Level = LogLevel.Debug, Message = "DHT: republished {Count} provider keys and records")]
    public static partial void Republished(ILogger logger, int count);

    [LoggerMessage(EventId = 1806, Level = LogLevel.Warning, Message = "DHT: periodic upkeep failed: {Reason}")]
    public static partial void UpkeepFailed(ILogger logger, string reason);
}
