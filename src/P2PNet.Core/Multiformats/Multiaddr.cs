using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Text;
using P2PNet.Peers;

namespace P2PNet.Multiformats;

/// <summary>
/// A self-describing network address (<c>/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW…</c>), with the multiformats
/// text and binary codecs.
/// </summary>
/// <remarks>Immutable and thread-safe, with value equality on the binary form. All parse errors are
/// <see cref="WireFormatException"/>s that say which part was wrong.</remarks>
[System.ComponentModel.TypeConverter(typeof(MultiaddrTypeConverter))]
public sealed class Multiaddr : IEquatable<Multiaddr>, ISpanParsable<Multiaddr>
{
    /// <summary>The longest binary multiaddr accepted.</summary>
    public const int MaxBinaryLength = 4096;

    private readonly MultiaddrComponent[] _components;
    private byte[]? _bytes;
    private string? _text;

    private Multiaddr(MultiaddrComponent[] components) => _components = components;

    /// <summary>The empty multiaddr.</summary>
    public static Multiaddr Empty { get; } = new([]);

    /// <summary>The components in order.</summary>
    public IReadOnlyList<MultiaddrComponent> Components => _components;

    /// <summary>Whether the address has no components.</summary>
    public bool IsEmpty => _components.Length == 0;

    /// <summary>Builds a multiaddr from components.</summary>
    public static Multiaddr Create(IEnumerable<MultiaddrComponent> components) => new(components.ToArray());

    /// <summary>Parses the text form.</summary>
    /// <exception cref="WireFormatException">The text is not a valid multiaddr.</exception>
    public static Multiaddr Parse(string s)
    {
        ArgumentNullException.ThrowIfNull(s);
        if (s.Length == 0)
        {
            throw new WireFormatException("A multiaddr cannot be empty.");
        }
        if (s[0] != '/')
        {
            throw new WireFormatException($"'{s}' is not a multiaddr: it must start with '/'.");
        }
        if (s.Length > MaxBinaryLength * 4)
        {
            throw new WireFormatException($"A multiaddr of {s.Length} characters is too long.");
        }
        string trimmed = s.Length > 1 && s[^1] == '/' ? s[..^1] : s;
        string[] parts = trimmed.Split('/');
        var components = new List<MultiaddrComponent>();
        for (int i = 1; i < parts.Length; i++)
        {
            string name = parts[i];
            if (name.Length == 0)
            {
                throw new WireFormatException($"'{s}' has an empty protocol name.");
            }
            if (!MultiaddrProtocol.TryGet(name, out var protocol))
            {
                throw new WireFormatException($"'{s}' has unknown protocol '{name}'.");
            }
            string value = string.Empty;
            switch (protocol.Kind)
            {
                case MultiaddrValueKind.None:
                    break;
                case MultiaddrValueKind.Path:
                    if (i + 1 >= parts.Length)
                    {
                        throw new WireFormatException($"'{s}': /{name} needs a path.");
                    }
                    value = "/" + string.Join('/', parts, i + 1, parts.Length - i - 1);
                    i = parts.Length;
                    break;
                default:
                    if (++i >= parts.Length)
                    {
                        throw new WireFormatException($"'{s}': /{name} needs a value.");
                    }
                    value = parts[i];
                    break;
            }
            try
            {
                components.Add(MultiaddrComponent.Create(protocol, value));
            }
            catch (WireFormatException e)
            {
                throw new WireFormatException($"'{s}': {e.Message}", e);
            }
        }
        var result = new Multiaddr([.. components]);
        if (result.Bytes.Length > MaxBinaryLength)
        {
            throw new WireFormatException($"'{s[..Math.Min(s.Length, 64)]}…' is {result.Bytes.Length} bytes in binary, more than {MaxBinaryLength}.");
        }
        return result;
    }

    /// <inheritdoc cref="Parse(string)"/>
    public static Multiaddr Parse(ReadOnlySpan<char> s) => Parse(s.ToString());

    /// <summary>Parses, returning <see langword="false"/> instead of throwing.</summary>
    public static bool TryParse([NotNullWhen(true)] string? s, [NotNullWhen(true)] out Multiaddr? result)
    {
        result = null;
        if (s is null)
        {
            return false;
        }
        try
        {
            result = Parse(s);
            return true;
        }
        catch (WireFormatException)
        {
            return false;
        }
    }

    static Multiaddr IParsable<Multiaddr>.Parse(string s, IFormatProvider? provider) => Parse(s);

    static bool IParsable<Multiaddr>.TryParse([NotNullWhen(true)] string? s, IFormatProvider? provider, [MaybeNullWhen(false)] out Multiaddr result) =>
        TryParse(s, out result);

    static Multiaddr ISpanParsable<Multiaddr>.Parse(ReadOnlySpan<char> s, IFormatProvider? provider) => Parse(s);

    static bool ISpanParsable<Multiaddr>.TryParse(ReadOnlySpan<char> s, IFormatProvider? provider, [MaybeNullWhen(false)] out Multiaddr result) =>
        TryParse(s.ToString(), out result);

    /// <summary>Reads the binary form.</summary>
    /// <exception cref="WireFormatException">The bytes are not a valid multiaddr.</exception>
    public static Multiaddr FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > MaxBinaryLength)
        {
            throw new WireFormatException($"A binary multiaddr of {bytes.Length} bytes exceeds {MaxBinaryLength}.");
        }
        var components = new List<MultiaddrComponent>();
        int offset = 0;
        while (offset < bytes.Length)
        {
            if (components.Count > 0 && components[^1].Protocol.Kind == MultiaddrValueKind.Path)
            {
                // In text a path takes the rest of the address, so nothing can follow it.
                throw new WireFormatException($"Binary multiaddr continues after /{components[^1].Protocol.Name} at byte {offset}: a path must come last.");
            }
            int code = Varint.ReadInt32(bytes[offset..], out int n);
            offset += n;
            if (!MultiaddrProtocol.TryGet(code, out var protocol))
            {
                throw new WireFormatException($"Binary multiaddr has unknown protocol code 0x{code:x} at byte {offset - n}.");
            }
            int length = protocol.Kind switch
            {
                MultiaddrValueKind.None => 0,
                MultiaddrValueKind.Fixed => protocol.Size,
                _ => ReadLength(bytes[offset..], protocol, ref offset),
            };
            if (bytes.Length - offset < length)
            {
                throw new WireFormatException($"Binary multiaddr is truncated inside /{protocol.Name}: {length} bytes expected, {bytes.Length - offset} left.");
            }
            var value = bytes.Slice(offset, length);
            MultiaddrComponent.ValidateBinaryValue(protocol, value);
            components.Add(new MultiaddrComponent(protocol, value.ToArray()));
            offset += length;
        }
        return new Multiaddr([.. components]);
    }

    private static int ReadLength(ReadOnlySpan<byte> rest, MultiaddrProtocol protocol, ref int offset)
    {
        int length = Varint.ReadInt32(rest, out int n);
        offset += n;
        if (length > MultiaddrComponent.MaxValueLength)
        {
            throw new WireFormatException($"/{protocol.Name} value length {length} exceeds {MultiaddrComponent.MaxValueLength}.");
        }
        return length;
    }

    /// <summary>The binary form.</summary>
    public byte[] ToBytes() => (byte[])Bytes.Clone();

    private byte[] Bytes => _bytes ??= Encode();

    private byte[] Encode()
    {
        using var stream = new MemoryStream();
        Span<byte> varint = stackalloc byte[Varint.MaxLength];
        foreach (var c in _components)
        {
            stream.Write(varint[..Varint.Write(varint, (ulong)c.Protocol.Code)]);
            if (c.Protocol.Kind is MultiaddrValueKind.LengthPrefixed or MultiaddrValueKind.Path)
            {
                stream.Write(varint[..Varint.Write(varint, (ulong)c.Value.Length)]);
            }
            stream.Write(c.Value);
        }
        return stream.ToArray();
    }

    /// <summary>The text form.</summary>
    public override string ToString()
    {
        if (_text is null)
        {
            var sb = new StringBuilder();
            foreach (var c in _components)
            {
                sb.Append(c.ToString());
            }
            _text = sb.ToString();
        }
        return _text;
    }

    /// <summary>This address followed by <paramref name="other"/>.</summary>
    public Multiaddr Encapsulate(Multiaddr other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return new Multiaddr([.. _components, .. other._components]);
    }

    /// <summary>This address followed by the parsed <paramref name="other"/>.</summary>
    public Multiaddr Encapsulate(string other) => Encapsulate(Parse(other));

    /// <summary>Removes the last occurrence of <paramref name="other"/> and everything after it; returns this address if it does not occur.</summary>
    public Multiaddr Decapsulate(Multiaddr other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.IsEmpty)
        {
            return this;
        }
        for (int start = _components.Length - other._components.Length; start >= 0; start--)
        {
            if (_components.AsSpan(start, other._components.Length).SequenceEqual(other._components))
            {
                return new Multiaddr(_components[..start]);
            }
        }
        return this;
    }

    /// <summary>Removes the last component of <paramref name="protocol"/> and everything after it.</summary>
    public Multiaddr Decapsulate(MultiaddrProtocol protocol)
    {
        for (int i = _components.Length - 1; i >= 0; i--)
        {
            if (_components[i].Protocol == protocol)
            {
                return new Multiaddr(_components[..i]);
            }
        }
        return this;
    }

    /// <summary>Whether a component of <paramref name="protocol"/> is present.</summary>
    public bool Contains(MultiaddrProtocol protocol) => _components.Any(c => c.Protocol == protocol);

    /// <summary>The text value of the first component of <paramref name="protocol"/>.</summary>
    public bool TryGetValue(MultiaddrProtocol protocol, [NotNullWhen(true)] out string? value)
    {
        foreach (var c in _components)
        {
            if (c.Protocol == protocol)
            {
                value = c.ValueText;
                return true;
            }
        }
        value = null;
        return false;
    }

    /// <summary>The peer id of the last <c>/p2p</c> component, or <see langword="null"/>.</summary>
    public PeerId? GetPeerId()
    {
        for (int i = _components.Length - 1; i >= 0; i--)
        {
            if (_components[i].Protocol == MultiaddrProtocol.P2p)
            {
                return PeerId.FromBytes(_components[i].Value);
            }
        }
        return null;
    }

    /// <summary>This address without a trailing <c>/p2p/…</c> component.</summary>
    public Multiaddr WithoutPeerId() =>
        _components.Length > 0 && _components[^1].Protocol == MultiaddrProtocol.P2p ? new Multiaddr(_components[..^1]) : this;

    /// <summary>This address ending with <c>/p2p/<paramref name="peerId"/></c> (replacing any trailing peer id).</summary>
    public Multiaddr WithPeerId(PeerId peerId)
    {
        ArgumentNullException.ThrowIfNull(peerId);
        var bare = WithoutPeerId();
        return new Multiaddr([.. bare._components, new MultiaddrComponent(MultiaddrProtocol.P2p, peerId.ToBytes())]);
    }

    /// <summary>For <c>/ip4|ip6/…/tcp/N</c> addresses (optionally followed by more), the IP end point.</summary>
    public bool TryGetTcpEndPoint([NotNullWhen(true)] out IPEndPoint? endPoint) => TryGetIPEndPoint(MultiaddrProtocol.Tcp, out endPoint);

    /// <summary>For <c>/ip4|ip6/…/udp/N</c> addresses, the IP end point.</summary>
    public bool TryGetUdpEndPoint([NotNullWhen(true)] out IPEndPoint? endPoint) => TryGetIPEndPoint(MultiaddrProtocol.Udp, out endPoint);

    private bool TryGetIPEndPoint(MultiaddrProtocol transport, [NotNullWhen(true)] out IPEndPoint? endPoint)
    {
        endPoint = null;
        if (_components.Length < 2 || _components[1].Protocol != transport
            || _components[0].Protocol != MultiaddrProtocol.Ip4 && _components[0].Protocol != MultiaddrProtocol.Ip6)
        {
            return false;
        }
        var ip = new IPAddress(_components[0].Value);
        int port = _components[1].Value[0] << 8 | _components[1].Value[1];
        endPoint = new IPEndPoint(ip, port);
        return true;
    }

    /// <summary>The address of an IP end point: <c>/ip4|ip6/…/tcp/N</c>.</summary>
    public static Multiaddr FromTcpEndPoint(IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        var ip = endPoint.Address.IsIPv4MappedToIPv6 ? endPoint.Address.MapToIPv4() : endPoint.Address;
        var ipProtocol = ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? MultiaddrProtocol.Ip4 : MultiaddrProtocol.Ip6;
        var port = new[] { (byte)(endPoint.Port >> 8), (byte)endPoint.Port };
        return new Multiaddr([new MultiaddrComponent(ipProtocol, ip.GetAddressBytes()), new MultiaddrComponent(MultiaddrProtocol.Tcp, port)]);
    }

    /// <inheritdoc />
    public bool Equals(Multiaddr? other) => other is not null && other.Bytes.AsSpan().SequenceEqual(Bytes);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as Multiaddr);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(Bytes);
        return hash.ToHashCode();
    }

    /// <summary>Value equality.</summary>
    public static bool operator ==(Multiaddr? left, Multiaddr? right) => left is null ? right is null : left.Equals(right);

    /// <summary>Value inequality.</summary>
    public static bool operator !=(Multiaddr? left, Multiaddr? right) => !(left == right);
}
