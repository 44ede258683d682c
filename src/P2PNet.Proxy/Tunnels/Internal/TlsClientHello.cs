using System.Buffers;
using System.Buffers.Binary;

namespace P2PNet.Proxy.Tunnels.Internal;

/// <summary>
/// Finds the server name (SNI, RFC 6066 §3) in a TLS ClientHello (RFC 8446 §4.1.2; TLS 1.0–1.3 share the layout) without
/// consuming or decrypting anything, so the TLS front routes the connection and the device terminates TLS with its own
/// certificate. The ClientHello may span several handshake records (post-quantum key shares make it large). Pure.
/// </summary>
internal static class TlsClientHello
{
    private const byte HandshakeRecord = 22;
    private const byte ClientHelloType = 1;
    private const ushort ServerNameExtension = 0;

    /// <summary>The most a ClientHello may take (RFC 8446 allows up to 2^24, real ones are under 4 KiB; this bounds memory).</summary>
    public const int MaxClientHello = 16 * 1024;

    /// <summary>The fatal <c>unrecognized_name</c> alert (RFC 6066 §3), TLS 1.2 record version.</summary>
    public static ReadOnlySpan<byte> UnrecognizedNameAlert => [21, 3, 3, 0, 2, 2, 112];

    /// <summary>The fatal <c>decode_error</c> alert (RFC 8446 §6.2).</summary>
    public static ReadOnlySpan<byte> DecodeErrorAlert => [21, 3, 3, 0, 2, 2, 50];

    /// <summary>Looks for the SNI host name in the ClientHello at the start of <paramref name="buffer"/>.</summary>
    public static FrontParseResult TryGetServerName(ReadOnlySequence<byte> buffer, out string? name)
    {
        name = null;
        // Reassemble the handshake message from the records' payloads.
        var message = new ArrayBufferWriter<byte>();
        var reader = new SequenceReader<byte>(buffer);
        int needed = -1;
        while (needed < 0 || message.WrittenCount < needed)
        {
            if (reader.Remaining < 5)
            {
                return FrontParseResult.NeedMore;
            }
            reader.TryRead(out byte type);
            reader.TryRead(out byte major);
            reader.Advance(1);
            reader.TryReadBigEndian(out short recordLength);
            if (type != HandshakeRecord || major != 3 || recordLength <= 0 || recordLength > 16384 + 256)
            {
                return FrontParseResult.Malformed;
            }
            if (reader.Remaining < recordLength)
            {
                return FrontParseResult.NeedMore;
            }
            var payload = reader.UnreadSequence.Slice(0, recordLength);
            foreach (var segment in payload)
            {
                message.Write(segment.Span);
            }
            reader.Advance(recordLength);
            if (needed < 0 && message.WrittenCount >= 4)
            {
                ReadOnlySpan<byte> header = message.WrittenSpan;
                if (header[0] != ClientHelloType)
                {
                    return FrontParseResult.Malformed;
                }
                needed = 4 + (header[1] << 16 | header[2] << 8 | header[3]);
                if (needed > MaxClientHello)
                {
                    return FrontParseResult.Malformed;
                }
            }
        }
        return ParseClientHello(message.WrittenSpan[4..needed], out name);
    }

    private static FrontParseResult ParseClientHello(ReadOnlySpan<byte> body, out string? name)
    {
        name = null;
        // legacy_version(2) random(32)
        if (!Skip(ref body, 34)
            || !SkipVector(ref body, 1) // legacy_session_id
            || !SkipVector(ref body, 2) // cipher_suites
            || !SkipVector(ref body, 1)) // legacy_compression_methods
        {
            return FrontParseResult.Malformed;
        }
        if (body.IsEmpty)
        {
            return FrontParseResult.NoName; // No extensions at all (SSL 3-style hello).
        }
        if (body.Length < 2)
        {
            return FrontParseResult.Malformed;
        }
        int extensionsLength = BinaryPrimitives.ReadUInt16BigEndian(body);
        body = body[2..];
        if (extensionsLength != body.Length)
        {
            return FrontParseResult.Malformed;
        }
        while (!body.IsEmpty)
        {
            if (body.Length < 4)
            {
                return FrontParseResult.Malformed;
            }
            ushort type = BinaryPrimitives.ReadUInt16BigEndian(body);
            int length = BinaryPrimitives.ReadUInt16BigEndian(body[2..]);
            body = body[4..];
            if (length > body.Length)
            {
                return FrontParseResult.Malformed;
            }
            ReadOnlySpan<byte> data = body[..length];
            body = body[length..];
            if (type == ServerNameExtension)
            {
                return ParseServerNameList(data, out name);
            }
        }
        return FrontParseResult.NoName;
    }

    private static FrontParseResult ParseServerNameList(ReadOnlySpan<byte> data, out string? name)
    {
        name = null;
        if (data.Length < 2 || BinaryPrimitives.ReadUInt16BigEndian(data) != data.Length - 2)
        {
            return FrontParseResult.Malformed;
        }
        data = data[2..];
        while (data.Length >= 3)
        {
            byte nameType = data[0];
            int length = BinaryPrimitives.ReadUInt16BigEndian(data[1..]);
            data = data[3..];
            if (length > data.Length)
            {
                return FrontParseResult.Malformed;
            }
            if (nameType == 0)
            {
                name = HttpRequestHead.Normalize(data[..length]);
                return name is null ? FrontParseResult.Malformed : FrontParseResult.Found;
            }
            data = data[length..];
        }
        return data.IsEmpty ? FrontParseResult.NoName : FrontParseResult.Malformed;
    }

    private static bool Skip(ref ReadOnlySpan<byte> span, int count)
    {
        if (span.Length < count)
        {
            return false;
        }
        span = span[count..];
        return true;
    }

    private static bool SkipVector(ref ReadOnlySpan<byte> span, int lengthBytes)
    {
        if (span.Length < lengthBytes)
        {
            return false;
        }
        int length = lengthBytes == 1 ? span[0] : BinaryPrimitives.ReadUInt16BigEndian(span);
        return Skip(ref span, lengthBytes + length);
    }
}
