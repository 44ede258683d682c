using System.Buffers;
using System.Text;

namespace P2PNet.Transports.WebSockets.Internal;

/// <summary>
/// The WebSocket transport's side of the RFC 6455 §4.2 opening handshake: finds the end of a request head in the bytes
/// received, checks with <see cref="WebSocketHandshake"/> (the one parser) that it is a version-13 upgrade with a valid
/// key, and formats the answers with its builder.
/// </summary>
internal static class WebSocketUpgrade
{
    /// <summary>The end of the request head (index just past <c>\r\n\r\n</c>), or -1 when it has not arrived yet.</summary>
    public static int FindEndOfHead(ReadOnlySpan<byte> received)
    {
        int i = received.IndexOf("\r\n\r\n"u8);
        return i < 0 ? -1 : i + 4;
    }

    /// <summary>Validates the request head and returns the client's <c>Sec-WebSocket-Key</c>.</summary>
    /// <remarks>The listener has bounded the head already (<c>MaxUpgradeRequestSize</c>), so no other limit applies here.</remarks>
    /// <exception cref="WireFormatException">Not a WebSocket upgrade request.</exception>
    public static string ParseRequest(ReadOnlySpan<byte> head)
    {
        if (!WebSocketHandshake.TryParse(new ReadOnlySequence<byte>(head.ToArray()), out var request, out _, int.MaxValue) || request is null)
        {
            throw new WireFormatException("The HTTP upgrade request head is incomplete.");
        }
        if (request.Method != "GET")
        {
            throw new WireFormatException($"Expected a GET request, got '{Truncate(request.Method)}'.");
        }
        if (!request.IsWebSocketRequest)
        {
            throw new WireFormatException("The request has no 'Upgrade: websocket' and 'Connection: Upgrade' headers.");
        }
        if (request.Version != "13")
        {
            throw new WireFormatException($"Unsupported Sec-WebSocket-Version '{Truncate(request.Version ?? "")}' (13 is required).");
        }
        if (!request.HasValidKey)
        {
            throw new WireFormatException("The request has no valid Sec-WebSocket-Key (base64 of 16 bytes).");
        }
        return request.Key!;
    }

    /// <summary>The <c>101 Switching Protocols</c> response for <paramref name="key"/>.</summary>
    public static byte[] FormatResponse(string key)
    {
        var writer = new ArrayBufferWriter<byte>(160);
        WebSocketHandshake.WriteAccept(writer, key);
        return writer.WrittenSpan.ToArray();
    }

    /// <summary>A plain-text error response (the connection is closed after it).</summary>
    public static byte[] FormatError(int status, string reason)
    {
        var writer = new ArrayBufferWriter<byte>(128);
        WebSocketHandshake.WriteRefusal(writer, status, reason, reason);
        return writer.WrittenSpan.ToArray();
    }

    /// <summary>base64(SHA-1(key + GUID)), RFC 6455 §4.2.2.</summary>
    public static string ComputeAccept(string key) => WebSocketHandshake.ComputeAccept(key);

    private static string Truncate(string s) => s.Length <= 80 ? s : s[..80] + "…";
}
