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
                if (!text.Contains(':', StringComparison.Ordinal) || text.Contains('%', StringComparison.Ordinal)
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
                byte[] utf8 = Encoding.UTF8.GetBytes(text);
                if (utf8.Length > MaxValueLength)
                {
                    throw new WireFormatException($"/{protocol.Name} value is longer than {MaxValueLength} bytes.");
                }
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
        }
        if (protocol.Kind is MultiaddrValueKind.LengthPrefixed or MultiaddrValueKind.Path)
        {
            if (value.IsEmpty)
            {
                throw new WireFormatException($"/{protocol.Name} has an empty value.");
            }
            try
            {
                string text = new UTF8Encoding(false, true).GetString(value);
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
            if (!IsDigits(parts[i]) || parts[i].Length > 3 || !byte.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out bytes[i]))
            {
                throw new WireFormatException($"'{text}' is not an IPv4 address (a.b.c.d).");
            }
        }
        return bytes;
    }

    private static bool IsDigits(string s) => s.Length > 0 && s.All(char.IsAsciiDigit);

    private static byte[] DecodeMultibase(string text)
    {
        if (text.Length < 2)
        {
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

    private static string PadBase64(string s) => (s.Length % 4) switch
    {
        2 => s + "==",
        3 => s + "=",
        _ => s,
    };
}
