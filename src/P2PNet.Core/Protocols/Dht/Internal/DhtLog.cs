using Microsoft.Extensions.Logging;
using P2PNet.Peers;

namespace P2PNet.Protocols.Dht.Internal;

internal static partial class DhtLog
{
    [LoggerMessage(EventId = 1800, Level = LogLevel.Debug, Message = "DHT: malformed message from {Peer}: {Reason}")]
    public static partial void Malformed(ILogger logger, PeerId peer, string reason);

    [LoggerMessage(EventId = 1801, Level = LogLevel.Debug, Message = "DHT: query to {Peer} failed: {Reason}")]
    public static partial void QueryFailed(ILogger logger, PeerId peer, string reason);
}
