using Microsoft.Extensions.Logging;
using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Discovery.Mdns.Internal;

internal static partial class MdnsLog
{
    [LoggerMessage(1501, LogLevel.Information, "mDNS started: service {Service}, peer name {PeerName}, {Sockets} socket(s)")]
    public static partial void Started(ILogger logger, string service, string peerName, int sockets);

    [LoggerMessage(1502, LogLevel.Warning, "mDNS cannot use {Family}: {Reason}")]
    public static partial void SocketUnavailable(ILogger logger, string family, string reason);

    [LoggerMessage(1503, LogLevel.Debug, "Dropped a malformed mDNS packet from {Sender}: {Reason}")]
    public static partial void Malformed(ILogger logger, string sender, string reason);

    [LoggerMessage(1504, LogLevel.Information, "mDNS discovered {Peer} at {Address}")]
    public static partial void Discovered(ILogger logger, PeerId peer, Multiaddr address);

    [LoggerMessage(1505, LogLevel.Debug, "Dialing mDNS peer {Peer} failed: {Reason}")]
    public static partial void DialFailed(ILogger logger, PeerId peer, string reason);

    [LoggerMessage(1507, LogLevel.Debug, "Not dialing mDNS peer {Peer} now: the discovery dial cap is reached ({Suppressed} similar lines not logged)")]
    public static partial void DialDeferred(ILogger logger, PeerId peer, long suppressed);

    [LoggerMessage(1506, LogLevel.Debug, "Sending mDNS packet failed: {Reason}")]
    public static partial void SendFailed(ILogger logger, string reason);
}
