using Microsoft.Extensions.Logging;
using P2PNet.Peers;

namespace P2PNet.Security.Noise;

/// <summary>Source-generated log messages of the Noise secure channel. Never logs key material.</summary>
internal static partial class NoiseLog
{
    [LoggerMessage(EventId = 1100, Level = LogLevel.Debug, Message = "Noise handshake started ({Direction})")]
    public static partial void HandshakeStarted(ILogger logger, string direction);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Debug, Message = "Noise handshake with {RemotePeer} completed in {ElapsedMilliseconds:F1} ms ({Direction}); remote muxers: {RemoteMuxers}")]
    public static partial void HandshakeCompleted(ILogger logger, PeerId remotePeer, double elapsedMilliseconds, string direction, string remoteMuxers);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Information, Message = "Noise handshake failed ({Direction}): {Reason}")]
    public static partial void HandshakeFailed(ILogger logger, string direction, string reason, Exception exception);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Warning, Message = "Noise channel with {RemotePeer} torn down: {Reason}")]
    public static partial void ChannelAborted(ILogger logger, PeerId remotePeer, string reason, Exception exception);

    [LoggerMessage(EventId = 1104, Level = LogLevel.Debug, Message = "Noise channel with {RemotePeer} closed")]
    public static partial void ChannelClosed(ILogger logger, PeerId remotePeer);
}
