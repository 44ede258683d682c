using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace P2PNet.Transports.WebSockets.Internal;

/// <summary>
/// The opening handshake of RFC 6455 §4.2, server side: the one parser and builder of P2PNet, used by the WebSocket
/// transport (through <see cref="WebSocketUpgrade"/>) and by the Proxy's standalone UDP bridge, which serves only
/// WebSocket upgrades and so skips the HTTP request pipeline (about 5 KiB less per idle client). Pure: parses a request
/// head from a <see cref="ReadOnlySequence{T}"/> and writes responses to an <see cref="IBufferWriter{T}"/>.
/// </summary>
internal sealed class WebSocketHandshake
{
    /// <summary>The largest request head accepted (request line and headers).</summary>
    public const int MaxHeadLength = 8 * 1024;

    // RFC 6455 §1.3: the accept value is SHA-1 over the key and this GUID.
    private const string AcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

    private WebSocketHandshake(string method, string path, string? query)
    {
        Method = method;
        Path = path;
        Query = query;
    }

    public string Method { get; }

    /// <summary>The request target's path, percent-decoding not applied.</summary>
    public string Path { get; }

    /// <summary>The query string without the '?', if any.</summary>
    public string? Query { get; }

    public string? Upgrade { get; private set; }

    public string? Connection { get; private set; }

    public string? Key { get; private set; }

    public string? Version { get; private set; }

    public string? Origin { get; private set; }

    public string? Authorization { get; private set; }

    /// <summary>The offered subprotocols: every <c>Sec-WebSocket-Protocol</c> entry, trimmed, in order.</summary>
    public IReadOnlyList<string> SubProtocols { get; private set; } = [];

    /// <summary>Whether this is a WebSocket upgrade: GET with <c>Upgrade: websocket</c> and <c>Connection: upgrade</c>.</summary>
    public bool IsWebSocketRequest =>
        Method == "GET"
        && string.Equals(Upgrade?.Trim(), "websocket", StringComparison.OrdinalIgnoreCase)
        && Connection is not null
        && Connection.Split(',').Any(token => string.Equals(token.Trim(), "upgrade", StringComparison.OrdinalIgnoreCase));

    /// <summary>Whether the key is the base64 of 16 bytes, as RFC 6455 §4.1 requires.</summary>
    public bool HasValidKey
    {
        get
        {
            Span<byte> decoded = stackalloc byte[18];
            return Key is { Length: 24 } && Convert.TryFromBase64String(Key, decoded, out int written) && written == 16;
        }
    }

    /// <summary>The value of query parameter <paramref name="name"/> (percent-decoded), or <see langword="null"/>.</summary>
    public string? GetQueryValue(string name)
    {
        if (Query is null)
        {
            return null;
        }

        foreach (string pair in Query.Split('&'))
        {
            int equals = pair.IndexOf('=', StringComparison.Ordinal);
            string key = equals < 0 ? pair : pair[..equals];
            if (string.Equals(Uri.UnescapeDataString(key), name, StringComparison.Ordinal))
            {
                return equals < 0 ? string.Empty : Uri.UnescapeDataString(pair[(equals + 1)..].Replace('+', ' '));
            }
        }

        return null;
    }

    /// <summary>Parses a request head once it is complete.</summary>
    /// <param name="buffer">Bytes received so far.</param>
    /// <param name="handshake">The request, when complete.</param>
    /// <param name="consumed">The position after the head's blank line; bytes after it belong to the websocket.</param>
    /// <param name="maxHeadLength">The largest head accepted; <see cref="MaxHeadLength"/> by default (the WebSocket
    /// transport passes its own <c>MaxUpgradeRequestSize</c>).</param>
    /// <returns><see langword="false"/> when more bytes are needed.</returns>
    /// <exception cref="RequestHeadTooLargeException">The head is longer than <paramref name="maxHeadLength"/> (answer 431).</exception>
    /// <exception cref="WireFormatException">Not an HTTP/1.1 request head.</exception>
    public static bool TryParse(ReadOnlySequence<byte> buffer, out WebSocketHandshake? handshake, out SequencePosition consumed, int maxHeadLength = MaxHeadLength)
    {
        handshake = null;
        consumed = buffer.Start;
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadTo(out ReadOnlySequence<byte> head, "\r\n\r\n"u8, advancePastDelimiter: true))
        {
            if (buffer.Length > maxHeadLength)
            {
                throw new RequestHeadTooLargeException($"The request head exceeds {maxHeadLength} bytes.");
            }

            return false;
        }

        if (head.Length > maxHeadLength)
        {
            throw new RequestHeadTooLargeException($"The request head exceeds {maxHeadLength} bytes.");
        }

        string text = Encoding.Latin1.GetString(head);
        string[] lines = text.Split("\r\n");
        string[] requestLine = lines[0].Split(' ');
        if (requestLine.Length != 3 || !requestLine[2].StartsWith("HTTP/1.", StringComparison.Ordinal) || requestLine[1].Length == 0)
        {
            throw new WireFormatException("Not an HTTP/1.1 request line.");
        }

        string target = requestLine[1];
        int question = target.IndexOf('?', StringComparison.Ordinal);
        var parsed = new WebSocketHandshake(requestLine[0], question < 0 ? target : target[..question], question < 0 ? null : target[(question + 1)..]);
        for (int i = 1; i < lines.Length; i++)
        {
            int colon = lines[i].IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw new WireFormatException("A header line without a name.");
            }

            string name = lines[i][..colon];
            string value = lines[i][(colon + 1)..].Trim();
            switch (name.ToUpperInvariant())
            {
                case "UPGRADE": parsed.Upgrade = value; break;
                case "CONNECTION": parsed.Connection = parsed.Connection is null ? value : parsed.Connection + "," + value; break;
                case "SEC-WEBSOCKET-KEY": parsed.Key = value; break;
                case "SEC-WEBSOCKET-VERSION": parsed.Version = value; break;
                case "ORIGIN": parsed.Origin = value; break;
                case "AUTHORIZATION": parsed.Authorization = value; break;
                case "SEC-WEBSOCKET-PROTOCOL":
                    parsed.SubProtocols = [.. parsed.SubProtocols, .. value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
                    break;
                default: break;
            }
        }

        handshake = parsed;
        consumed = reader.Position;
        return true;
    }

    /// <summary>The <c>Sec-WebSocket-Accept</c> value for <paramref name="key"/> (RFC 6455 §4.2.2).</summary>
    public static string ComputeAccept(string key)
    {
        Span<byte> hash = stackalloc byte[20];
#pragma warning disable CA5350 // RFC 6455 fixes SHA-1 for this value; it proves the server speaks WebSocket, it protects nothing.
        SHA1.HashData(Encoding.ASCII.GetBytes(key + AcceptGuid), hash);
#pragma warning restore CA5350
        return Convert.ToBase64String(hash);
    }

    /// <summary>Writes the 101 response that completes the upgrade, naming <paramref name="subProtocol"/> if one is selected.</summary>
    public static void WriteAccept(IBufferWriter<byte> writer, string key, string? subProtocol = null) =>
        Write(writer, $"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ComputeAccept(key)}\r\n"
            + (subProtocol is null ? string.Empty : $"Sec-WebSocket-Protocol: {subProtocol}\r\n") + "\r\n");

    /// <summary>Writes a refusal: status, a plain-text reason, and <c>Connection: close</c>.</summary>
    public static void WriteRefusal(IBufferWriter<byte> writer, int statusCode, string reasonPhrase, string message, string? extraHeader = null)
    {
        byte[] body = Encoding.UTF8.GetBytes(message);
        string extra = extraHeader is null ? string.Empty : extraHeader + "\r\n";
        Write(writer, $"HTTP/1.1 {statusCode} {reasonPhrase}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n"
            + $"Content-Length: {body.Length}\r\n{extra}\r\n");
        writer.Write(body);
    }

    private static void Write(IBufferWriter<byte> writer, string ascii) => writer.Write(Encoding.ASCII.GetBytes(ascii));
}
