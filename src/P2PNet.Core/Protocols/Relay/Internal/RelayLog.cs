using Microsoft.Extensions.Logging;
using P2PNet.Peers;

namespace P2PNet.Protocols.Relay.Internal;

internal static partial class RelayLog
{
    [LoggerMessage(EventId = 1650, Level = LogLevel.Debug, Message = "Relay: reservation for {Peer} until {Expires}")]
    public static partial void Reserved(ILogger logger, PeerId peer, DateTimeOffset expires);

    [LoggerMessage(EventId = 1651, Level = LogLevel.Debug, Message = "Relay: refused {Request} from {Peer}: {Status}")]
    public static partial void Refused(ILogger logger, string request, PeerId peer, string status);

    [LoggerMessage(EventId = 1652, Level = LogLevel.Debug, Message = "Relay: circuit {Source} -> {Destination} opened")]
    public static partial void CircuitOpened(ILogger logger, PeerId source, PeerId destination);

    [LoggerMessage(EventId = 1653, Level = LogLevel.Debug, Message = "Relay: circuit {Source} -> {Destination} ended: {Reason}")]
    public static partial void CircuitEnded(ILogger logger, PeerId source, PeerId destination, string reason);

    [LoggerMessage(EventId = 1654, Level = LogLevel.Debug, Message = "Relay: malformed request from {Peer}: {Reason}")]
    public static partial void Malformed(ILogger logger, PeerId peer, string reason);

    [LoggerMessage(EventId = 1660, Level = LogLevel.Information, Message = "Relay client: reserved on {Relay} until {Expires}")]
    public static partial void ClientReserved(ILogger logger, PeerId relay, DateTimeOffset expires);

    [LoggerMessage(EventId = 1661, Level = LogLevel.Warning, Message = "Relay client: renewing on {Relay} failed: {Reason}")]
    public static partial void RenewFailed(ILogger logger, PeerId relay, string reason);

    [LoggerMessage(EventId = 1662, Level = LogLevel.Information, Message = "Relay client: the reservation on {Relay} expired")]
    public static partial void ReservationLost(ILogger logger, PeerId relay);

    [LoggerMessage(EventId = 1663, Level = LogLevel.Debug, Message = "Relay client: relayed connection from {Peer} via {Relay} refused: {Reason}")]
    public static partial void InboundRefused(ILogger logger, PeerId peer, PeerId relay, string reason);

    [LoggerMessage(EventId = 1664, Level = LogLevel.Information, Message = "AutoRelay: {Relay}: {What}")]
    public static partial void AutoRelay(ILogger logger, PeerId relay, string what);
}
