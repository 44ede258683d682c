using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using P2PNet.Peers;
using SimpleBase;

namespace P2PNet.Multiformats;

/// <summary>One protocol and its value inside a <see cref="Multiaddr"/>, e.g. <c>/tcp/4001</c>.</summary>
public readonly struct MultiaddrComponent : IEquatable<MultiaddrComponent>
{
    /// <summary>The longest value accepted for a length-prefixed protocol.</summary>
    public const int MaxValueLength = 1024;

    private const int Garlic64MinLength = 386;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private static readonly SearchValues<char> Ip6Chars = SearchValues.Create("0123456789abcdefABCDEF:.");
    private static readonly SearchValues<char> Base32LowerChars = SearchValues.Create("abcdefghijklmnopqrstuvwxyz234567");
    private static readonly SearchValues<char> Garlic64Chars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-~=");

    private readonly byte[]? _value;

    internal MultiaddrComponent(MultiaddrProtocol protocol, byte[] value)
    {
        Protocol = protocol;
        _value = value;
    }

    /// <summary>The protocol.</summary>
    public MultiaddrProtocol Protocol { get; }

    /// <summary>The value in binary form (empty for protocols without a value).</summary>
    public ReadOnlySpan<byte> Value => _value;

    /// <summary>The value in text form (empty for protocols without a value).</summary>
    public string ValueText => FormatValue(Protocol, _value ?? []);

    /// <summary>Creates a component from a protocol and a text value (empty for protocols without one).</summary>
    /// <exception cref="WireFormatException">The value is not valid for the protocol.</exception>
    public static MultiaddrComponent Create(MultiaddrProtocol protocol, string value)
    {
        ArgumentNullException.ThrowIfNull(protocol);
        ArgumentNullException.ThrowIfNull(value);
        return new MultiaddrComponent(protocol, ParseValue(protocol, value));
    }

    /// <summary><c>/name/value</c>.</summary>
    public override string ToString()
    {
        if (Protocol.Kind == MultiaddrValueKind.None)
        {
            return "/" + Protocol.Name;
        }
        string text = ValueText;
        return Protocol.Kind == MultiaddrValueKind.Path && text.StartsWith('/') ? "/" + Protocol.Name + text : "/" + Protocol.Name + "/" + text;
    }

    /// <inheritdoc />
    public bool Equals(MultiaddrComponent other) => Protocol == other.Protocol && Value.SequenceEqual(other.Value);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is MultiaddrComponent other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Protocol.Code, Value.Length > 0 ? Value[^1] : 0);

    /// <summary>Component equality.</summary>
    public static bool operator ==(MultiaddrComponent left, MultiaddrComponent right) => left.Equals(right);

    /// <summary>Component inequality.</summary>
    public static bool operator !=(MultiaddrComponent left, MultiaddrComponent right) => !left.Equals(right);

    internal static byte[] ParseValue(MultiaddrProtocol protocol, string text)
    {
        switch (protocol.Code)
        {
            case 0x04: // ip4
                return ParseIp4(text);
            case 0x29: // ip6
                // Only hex digits, ':' and '.' (for an embedded IPv4 tail): IPAddress.TryParse would also take "[::1]",
                // zone ids and surrounding whitespace, none of which is a multiaddr ip6 value.
                if (!text.Contains(':', StringComparison.Ordinal) || text.AsSpan().ContainsAnyExcept(Ip6Chars)
                    || !IPAddress.TryParse(text, out var ip6) || ip6.AddressFamily != AddressFamily.InterNetworkV6)
                {
                    throw new WireFormatException($"'{text}' is not an IPv6 address.");
                }
                return ip6.GetAddressBytes();
            case 0x06 or 0x0111 or 0x21 or 0x84: // tcp, udp, dccp, sctp
                if (!IsDigits(text) || text.Length > 5 || !ushort.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ushort port))
                {
                    throw new WireFormatException($"'{text}' is not a port number (0-65535) for /{protocol.Name}.");
                }
                var portBytes = new byte[2];
                BinaryPrimitives.WriteUInt16BigEndian(portBytes, port);
                return portBytes;
            case 0x01a5: // p2p
                return PeerId.Parse(text).ToBytes();
            case 0x01d2: // certhash
                byte[] hash = DecodeMultibase(text);
                _ = Multihash.Decode(hash);
                return hash;
            case 0x01bc: // onion: 16 base32 characters (10 bytes), ':', port
                return ParseOnion(text, hostChars: 16, hostBytes: 10);
            case 0x01bd: // onion3: 56 base32 characters (35 bytes), ':', port
                return ParseOnion(text, hostChars: 56, hostBytes: 35);
            case 0x01be: // garlic64: I2P's base64 alphabet
                return ParseGarlic64(text);
            case 0x0309: // memory: a decimal uint64
                if (!IsDigits(text) || !ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong id))
                {
                    throw new WireFormatException($"'{text}' is not a /memory id (0-{ulong.MaxValue}).");
                }
                var idBytes = new byte[8];
                BinaryPrimitives.WriteUInt64BigEndian(idBytes, id);
                return idBytes;
        }
        switch (protocol.Kind)
        {
            case MultiaddrValueKind.None:
                if (text.Length != 0)
                {
                    throw new WireFormatException($"/{protocol.Name} takes no value.");
                }
                return [];
            case MultiaddrValueKind.LengthPrefixed or MultiaddrValueKind.Path:
                if (text.Length == 0)
                {
                    throw new WireFormatException($"/{protocol.Name} needs a value.");
                }
                byte[] utf8;
                try
                {
                    utf8 = StrictUtf8.GetBytes(text);
                }
                catch (EncoderFallbackException e)
                {
                    throw new WireFormatException($"/{protocol.Name} value is not valid Unicode text.", e);
                }
                if (utf8.Length > MaxValueLength)
                {
                    throw new WireFormatException($"/{protocol.Name} value is longer than {MaxValueLength} bytes.");
                }
                ValidateBinaryValue(protocol, utf8); // a value built here must read back from its binary form
                return utf8;
            default:
                throw new WireFormatException($"/{protocol.Name} has no text form P2PNet understands.");
        }
    }

    internal static void ValidateBinaryValue(MultiaddrProtocol protocol, ReadOnlySpan<byte> value)
    {
        switch (protocol.Code)
        {
            case 0x01a5:
                _ = PeerId.FromBytes(value);
                return;
            case 0x01d2:
                _ = Multihash.Decode(value.ToArray());
                return;
            case 0x01bc or 0x01bd: // onion, onion3: the port is the last two bytes and cannot be 0
                if (BinaryPrimitives.ReadUInt16BigEndian(value[^2..]) == 0)
                {
                    throw new WireFormatException($"/{protocol.Name} port cannot be 0.");
                }
                return;
            case 0x01be:
                if (value.Length < Garlic64MinLength)
                {
                    throw new WireFormatException($"/garlic64 value of {value.Length} bytes is shorter than an I2P destination ({Garlic64MinLength}).");
                }
                return;
        }
        if (protocol.Kind is MultiaddrValueKind.LengthPrefixed or MultiaddrValueKind.Path)
        {
            if (value.IsEmpty)
            {
                throw new WireFormatException($"/{protocol.Name} has an empty value.");
            }
            if (protocol.Kind == MultiaddrValueKind.Path && (value.Length < 2 || value[0] != '/' || value[^1] == '/'))
            {
                // The text form "/unix/a/b" carries the path "/a/b": a path must start with '/' and, as trailing
                // slashes are dropped when parsing, must not end with one (go-multiaddr has the same rule).
                throw new WireFormatException($"/{protocol.Name} path must start with '/' and not end with '/'.");
            }
            try
            {
                string text = StrictUtf8.GetString(value);
                if (protocol.Kind != MultiaddrValueKind.Path && text.Contains('/', StringComparison.Ordinal))
                {
                    throw new WireFormatException($"/{protocol.Name} value contains '/'.");
                }
            }
            catch (DecoderFallbackException e)
            {
                throw new WireFormatException($"/{protocol.Name} value is not UTF-8.", e);
            }
        }
    }

    internal static string FormatValue(MultiaddrProtocol protocol, byte[] value) => protocol.Code switch
    {
        0x04 => new IPAddress(value).ToString(),
        0x29 => new IPAddress(value).ToString(),
        0x06 or 0x0111 or 0x21 or 0x84 => BinaryPrimitives.ReadUInt16BigEndian(value).ToString(CultureInfo.InvariantCulture),
        0x01a5 => PeerId.FromBytes(value).ToString(),
        0x01d2 => "u" + Convert.ToBase64String(value).TrimEnd('=').Replace('+', '-').Replace('/', '_'),
        0x01bc or 0x01bd => FormatOnion(value),
        0x01be => Convert.ToBase64String(value).Replace('+', '-').Replace('/', '~'),
        0x0309 => BinaryPrimitives.ReadUInt64BigEndian(value).ToString(CultureInfo.InvariantCulture),
        _ => protocol.Kind == MultiaddrValueKind.None ? string.Empty : Encoding.UTF8.GetString(value),
    };

    private static byte[] ParseIp4(string text)
    {
        var parts = text.Split('.');
        if (parts.Length != 4)
        {
            throw new WireFormatException($"'{text}' is not an IPv4 address (a.b.c.d).");
        }
        var bytes = new byte[4];
        for (int i = 0; i < 4; i++)
        {
            // No leading zeros ("01.2.3.4"): some parsers read them as octal, so go refuses them and so do we.
            if (!IsDigits(parts[i]) || parts[i].Length > 3 || (parts[i].Length > 1 && parts[i][0] == '0')
                || !byte.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out bytes[i]))
            {
                throw new WireFormatException($"'{text}' is not an IPv4 address (a.b.c.d).");
            }
        }
        return bytes;
    }

    private static bool IsDigits(string s) => s.Length > 0 && s.All(char.IsAsciiDigit);

    private static byte[] DecodeMultibase(string text)
    {
        if (text.Length < 2 || text.AsSpan().ContainsAnyExceptInRange('!', '~'))
        {
            // Printable ASCII only: SimpleBase's decoders throw IndexOutOfRangeException on DEL and non-ASCII input,
            // and Convert.FromBase64String would silently skip whitespace.
            throw new WireFormatException($"'{text}' is not a multibase string.");
        }
        string body = text[1..];
        try
        {
            return text[0] switch
            {
                'u' => Convert.FromBase64String(PadBase64(body.Replace('-', '+').Replace('_', '/'))),
                'U' => Convert.FromBase64String(PadBase64(body.Replace('-', '+').Replace('_', '/'))),
                'm' => Convert.FromBase64String(PadBase64(body)),
                'b' => Base32.Rfc4648.Decode(body.ToUpperInvariant()),
                'B' => Base32.Rfc4648.Decode(body),
                'f' or 'F' => Convert.FromHexString(body),
                'z' => Base58.Bitcoin.Decode(body),
                _ => throw new WireFormatException($"Unsupported multibase prefix '{text[0]}' in '{text}'."),
            };
        }
        catch (Exception e) when (e is FormatException or ArgumentException && e is not WireFormatException)
        {
            throw new WireFormatException($"'{text}' is not valid multibase: {e.Message}", e);
        }
    }

    private static byte[] ParseOnion(string text, int hostChars, int hostBytes)
    {
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon != hostChars || text.AsSpan(0, colon).ContainsAnyExcept(Base32LowerChars))
        {
            throw new WireFormatException($"'{text}' is not an onion address: {hostChars} lower-case base32 characters, ':', then a port.");
        }
        string portText = text[(colon + 1)..];
        if (!IsDigits(portText) || portText.Length > 5
            || !ushort.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out ushort port) || port == 0)
        {
            throw new WireFormatException($"'{text}' has no valid onion port (1-65535).");
        }
        byte[] host = Base32.Rfc4648.Decode(text[..colon].ToUpperInvariant());
        if (host.Length < hostBytes)
        {
            throw new WireFormatException($"'{text}' is not an onion address.");
        }
        var bytes = new byte[hostBytes + 2];
        host.AsSpan(0, hostBytes).CopyTo(bytes);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(hostBytes), port);
        return bytes;
    }

    private static string FormatOnion(byte[] value) =>
        Base32.Rfc4648.Encode(value.AsSpan(0, value.Length - 2), padding: false).ToLowerInvariant() + ":"
        + BinaryPrimitives.ReadUInt16BigEndian(value.AsSpan(value.Length - 2)).ToString(CultureInfo.InvariantCulture);

    private static byte[] ParseGarlic64(string text)
    {
        // I2P base64: '-' and '~' instead of '+' and '/', with '=' padding.
        if (text.Length % 4 != 0 || text.AsSpan().ContainsAnyExcept(Garlic64Chars))
        {
            throw new WireFormatException("/garlic64 value is not I2P base64.");
        }
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(text.Replace('-', '+').Replace('~', '/'));
        }
        catch (FormatException e)
        {
            throw new WireFormatException($"/garlic64 value is not I2P base64: {e.Message}", e);
        }
        if (Convert.ToBase64String(bytes).Replace('+', '-').Replace('/', '~') != text)
        {
            throw new WireFormatException("/garlic64 value is not canonical I2P base64.");
        }
        ValidateBinaryValue(MultiaddrProtocol.Garlic64, bytes);
        return bytes;
    }

    private static string PadBase64(string s) => (s.Length % 4) switch
    {
        2 => s + "==",
        3 => s + "=",
        _ => s,
    };
}
