using Microsoft.Extensions.Logging;
using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Protocols.Nat.Internal;

internal static partial class NatLog
{
    [LoggerMessage(EventId = 1700, Level = LogLevel.Debug, Message = "NAT: malformed message from {Peer}: {Reason}")]
    public static partial void Malformed(ILogger logger, PeerId peer, string reason);

    [LoggerMessage(EventId = 1701, Level = LogLevel.Debug, Message = "AutoNAT: dial-back to {Peer} at {Address}: {Outcome}")]
    public static partial void DialBack(ILogger logger, PeerId peer, Multiaddr address, string outcome);

    [LoggerMessage(EventId = 1702, Level = LogLevel.Debug, Message = "AutoNAT: {Address} via {Server}: {Outcome}")]
    public static partial void Probe(ILogger logger, Multiaddr address, PeerId server, string outcome);

    [LoggerMessage(EventId = 1703, Level = LogLevel.Debug, Message = "Hole punch with {Peer}: {Outcome}")]
    public static partial void HolePunch(ILogger logger, PeerId peer, string outcome);
}
