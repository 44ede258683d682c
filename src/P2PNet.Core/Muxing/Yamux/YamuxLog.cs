using Microsoft.Extensions.Logging;

namespace P2PNet.Muxing.Yamux;

/// <summary>The Yamux log, as source-generated <see cref="LoggerMessageAttribute"/> methods (event ids 1100–1199).</summary>
internal static partial class YamuxLog
{
    [LoggerMessage(1400, LogLevel.Debug, "Yamux session started as {Role}.")]
    private static partial void SessionStarted(ILogger logger, string role);

    public static void SessionStarted(ILogger logger, bool isClient) => SessionStarted(logger, isClient ? "client" : "server");

    [LoggerMessage(1401, LogLevel.Debug, "Yamux session ended: {Reason}.")]
    public static partial void SessionEnded(ILogger logger, string reason);

    [LoggerMessage(1402, LogLevel.Warning, "Closing the yamux session: the peer violated the protocol ({Suppressed} similar lines not logged).")]
    public static partial void ProtocolViolation(ILogger logger, Exception exception, long suppressed);

    [LoggerMessage(1403, LogLevel.Debug, "Yamux session transport failed.")]
    public static partial void TransportFailed(ILogger logger, Exception exception);

    [LoggerMessage(1404, LogLevel.Debug, "Yamux session transport ended.")]
    public static partial void TransportEnded(ILogger logger);

    [LoggerMessage(1405, LogLevel.Error, "Closing the yamux session after an internal error.")]
    public static partial void InternalError(ILogger logger, Exception exception);

    [LoggerMessage(1406, LogLevel.Warning, "Closing the yamux session: no keep-alive answer from the peer within {Timeout}.")]
    public static partial void KeepAliveTimeout(ILogger logger, TimeSpan timeout);

    [LoggerMessage(1407, LogLevel.Debug, "The peer sent GoAway with code {Code}.")]
    public static partial void RemoteGoAway(ILogger logger, uint code);

    [LoggerMessage(1408, LogLevel.Debug, "The yamux GoAway frame was not flushed within {Timeout}; closing anyway.")]
    public static partial void GoAwayNotFlushed(ILogger logger, TimeSpan timeout);

    [LoggerMessage(1409, LogLevel.Debug, "Completing the yamux transport failed.")]
    public static partial void TransportCloseFailed(ILogger logger, Exception exception);

    [LoggerMessage(1410, LogLevel.Debug, "The yamux connection ended inside a frame ({Buffered} bytes buffered, {PayloadRemaining} payload bytes missing).")]
    public static partial void TruncatedFrameAtEnd(ILogger logger, long buffered, long payloadRemaining);

    [LoggerMessage(1420, LogLevel.Trace, "Opened yamux stream {StreamId}.")]
    public static partial void StreamOpened(ILogger logger, uint streamId);

    [LoggerMessage(1421, LogLevel.Trace, "The peer opened yamux stream {StreamId}.")]
    public static partial void InboundStream(ILogger logger, uint streamId);

    [LoggerMessage(1422, LogLevel.Debug, "Refused yamux stream {StreamId} opened by the peer: {Reason} ({Suppressed} similar lines not logged).")]
    public static partial void InboundStreamRefused(ILogger logger, uint streamId, string reason, long suppressed);

    [LoggerMessage(1423, LogLevel.Debug, "Yamux stream {StreamId} was reset (by the peer: {IsRemote}).")]
    public static partial void StreamReset(ILogger logger, uint streamId, bool isRemote);

    [LoggerMessage(1424, LogLevel.Trace, "Yamux stream {StreamId} closed.")]
    public static partial void StreamRemoved(ILogger logger, uint streamId);

    [LoggerMessage(1425, LogLevel.Trace, "Discarded a {FrameType} frame for unknown yamux stream {StreamId} (length {Length}).")]
    public static partial void FrameForUnknownStream(ILogger logger, YamuxFrameType frameType, uint streamId, uint length);

    [LoggerMessage(1426, LogLevel.Debug, "Yamux stream {StreamId} receive window grew to {Window} bytes.")]
    public static partial void WindowGrown(ILogger logger, uint streamId, long window);

    [LoggerMessage(1427, LogLevel.Warning, "A StreamClosed handler threw.")]
    public static partial void StreamClosedHandlerFailed(ILogger logger, Exception exception);
}
