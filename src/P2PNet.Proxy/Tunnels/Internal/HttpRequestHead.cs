using System.Buffers;
using System.Text;

namespace P2PNet.Proxy.Tunnels.Internal;

/// <summary>
/// Finds the <c>Host</c> of an HTTP/1.x request head (RFC 9112 §3.2) without consuming it, so the HTTP front can route
/// the request and then pass every byte on unchanged. Pure and synchronous.
/// </summary>
internal static class HttpRequestHead
{
    private static ReadOnlySpan<byte> EndOfHead => "\r\n\r\n"u8;

    /// <summary>Looks for a complete head in <paramref name="buffer"/> and its Host (lowercase, without port).</summary>
    public static FrontParseResult TryGetHost(ReadOnlySequence<byte> buffer, out string? host)
    {
        host = null;
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadTo(out ReadOnlySequence<byte> head, EndOfHead, advancePastDelimiter: false))
        {
            return FrontParseResult.NeedMore;
        }
        return Parse(head.IsSingleSegment ? head.FirstSpan : head.ToArray(), out host);
    }

    private static FrontParseResult Parse(ReadOnlySpan<byte> head, out string? host)
    {
        host = null;
        int lineEnd = head.IndexOf("\r\n"u8);
        ReadOnlySpan<byte> requestLine = lineEnd < 0 ? head : head[..lineEnd];
        // method SP target SP HTTP/1.x
        int firstSpace = requestLine.IndexOf((byte)' ');
        int lastSpace = requestLine.LastIndexOf((byte)' ');
        if (firstSpace <= 0 || lastSpace <= firstSpace || !requestLine[(lastSpace + 1)..].StartsWith("HTTP/1."u8))
        {
            return FrontParseResult.Malformed;
        }
        ReadOnlySpan<byte> rest = lineEnd < 0 ? [] : head[(lineEnd + 2)..];
        while (!rest.IsEmpty)
        {
            int end = rest.IndexOf("\r\n"u8);
            ReadOnlySpan<byte> line = end < 0 ? rest : rest[..end];
            rest = end < 0 ? [] : rest[(end + 2)..];
            int colon = line.IndexOf((byte)':');
            if (colon <= 0)
            {
                return FrontParseResult.Malformed;
            }
            if (!Ascii.EqualsIgnoreCase(line[..colon], "host"u8))
            {
                continue;
            }
            ReadOnlySpan<byte> value = line[(colon + 1)..].Trim((byte)' ').Trim((byte)'\t');
            if (host is not null)
            {
                // Two Host headers: RFC 9112 §3.2 says answer 400; routing by either would be a smuggling risk.
                return FrontParseResult.Malformed;
            }
            host = Normalize(value);
            if (host is null)
            {
                return FrontParseResult.Malformed;
            }
        }
        return host is null ? FrontParseResult.NoName : FrontParseResult.Found;
    }

    /// <summary>Lowercase host without port and trailing dot; <see langword="null"/> when not a plausible host.</summary>
    internal static string? Normalize(ReadOnlySpan<byte> value)
    {
        if (value.IsEmpty || value.Length > 255 || !Ascii.IsValid(value))
        {
            return null;
        }
        string text = Encoding.ASCII.GetString(value).ToLowerInvariant();
        if (text.StartsWith('['))
        {
            int close = text.IndexOf(']', StringComparison.Ordinal);
            return close < 0 ? null : text[..(close + 1)];
        }
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon >= 0)
        {
            text = text[..colon];
        }
        text = text.TrimEnd('.');
        return text.Length == 0 || Uri.CheckHostName(text) == UriHostNameType.Unknown ? null : text;
    }
}
