namespace P2PNet.Transports.WebSockets.Internal;

/// <summary>
/// A WebSocket request head longer than <see cref="WebSocketHandshake.MaxHeadLength"/>: the standalone server answers
/// 431 (Request Header Fields Too Large, RFC 6585 §5) and closes the connection.
/// </summary>
internal sealed class RequestHeadTooLargeException(string message) : WireFormatException(message);
