using System.Security.Cryptography;
using System.Text;

namespace P2PNet.Transports.WebSockets.Internal;

/// <summary>
/// The server side of the RFC 6455 §4.2 opening handshake: parses an HTTP/1.1 upgrade request (pure, no I/O) and
/// formats the <c>101 Switching Protocols</c> answer.
/// </summary>
internal static class WebSocketUpgrade
{
    private const string AcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

    /// <summary>The end of the request head (index just past <c>\r\n\r\n</c>), or -1 when it has not arrived yet.</summary>
    public static int FindEndOfHead(ReadOnlySpan<byte> received)
    {
        int i = received.IndexOf("\r\n\r\n"u8);
        return i < 0 ? -1 : i + 4;
    }

    /// <summary>Validates the request head and returns the client's <c>Sec-WebSocket-Key</c>.</summary>
    /// <exception cref="WireFormatException">Not a WebSocket upgrade request.</exception>
    public static string ParseRequest(ReadOnlySpan<byte> head)
    {
        string text;
        try
        {
            text = new UTF8Encoding(false, true).GetString(head);
        }
        catch (DecoderFallbackException e)
        {
            throw new WireFormatException("The HTTP upgrade request is not valid UTF-8.", e);
        }
        var lines = text.Split("\r\n");
        var requestLine = lines[0].Split(' ');
        if (requestLine.Length != 3 || requestLine[0] != "GET" || !requestLine[2].StartsWith("HTTP/1.1", StringComparison.Ordinal))
        {
            throw new WireFormatException($"Expected 'GET <path> HTTP/1.1', got '{Truncate(lines[0])}'.");
        }
        string? key = null, upgrade = null, connection = null, version = null;
        foreach (var line in lines.Skip(1))
        {
            if (line.Length == 0)
            {
                continue;
            }
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw new WireFormatException($"Malformed HTTP header line '{Truncate(line)}'.");
            }
            string name = line[..colon].Trim();
            string value = line[(colon + 1)..].Trim();
            if (name.Equals("Sec-WebSocket-Key", StringComparison.OrdinalIgnoreCase))
            {
                key = value;
            }
            else if (name.Equals("Upgrade", StringComparison.OrdinalIgnoreCase))
            {
                upgrade = value;
            }
            else if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
            {
                connection = value;
            }
            else if (name.Equals("Sec-WebSocket-Version", StringComparison.OrdinalIgnoreCase))
            {
                version = value;
            }
        }
        if (upgrade is null || !upgrade.Equals("websocket", StringComparison.OrdinalIgnoreCase))
        {
            throw new WireFormatException("The request has no 'Upgrade: websocket' header.");
        }
        if (connection is null || !connection.Split(',').Any(t => t.Trim().Equals("Upgrade", StringComparison.OrdinalIgnoreCase)))
        {
            throw new WireFormatException("The request has no 'Connection: Upgrade' header.");
        }
        if (version != "13")
        {
            throw new WireFormatException($"Unsupported Sec-WebSocket-Version '{version}' (13 is required).");
        }
        if (key is null || !IsValidKey(key))
        {
            throw new WireFormatException("The request has no valid Sec-WebSocket-Key (base64 of 16 bytes).");
        }
        return key;
    }

    /// <summary>The <c>101 Switching Protocols</c> response for <paramref name="key"/>.</summary>
    public static byte[] FormatResponse(string key) => Encoding.ASCII.GetBytes(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
        + ComputeAccept(key) + "\r\n\r\n");

    /// <summary>A plain-text error response (the connection is closed after it).</summary>
    public static byte[] FormatError(int status, string reason) => Encoding.ASCII.GetBytes(
        $"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");

    /// <summary>base64(SHA-1(key + GUID)), RFC 6455 §4.2.2.</summary>
#pragma warning disable CA5350 // RFC 6455 mandates SHA-1 here; it is a handshake checksum, not a security measure
    public static string ComputeAccept(string key) =>
        Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + AcceptGuid)));
#pragma warning restore CA5350

    private static bool IsValidKey(string key)
    {
        Span<byte> decoded = stackalloc byte[24];
        return key.Length == 24 && Convert.TryFromBase64String(key, decoded, out int written) && written == 16;
    }

    private static string Truncate(string s) => s.Length <= 80 ? s : s[..80] + "…";
}
