using Microsoft.Extensions.Logging;
using P2PNet.Peers;

namespace P2PNet.Host.Internal;

/// <summary>The host's use of its peer routing (event ids 1820–1821, the DHT-in-the-host range).</summary>
internal static partial class PeerRoutingLog
{
    [LoggerMessage(EventId = 1820, Level = LogLevel.Debug, Message = "Peer routing found {Count} address(es) of {Peer}")]
    public static partial void Found(ILogger logger, PeerId peer, int count);

    [LoggerMessage(EventId = 1821, Level = LogLevel.Debug, Message = "Peer routing could not look up {Peer}: {Reason}")]
    public static partial void Failed(ILogger logger, PeerId peer, string reason);
}
