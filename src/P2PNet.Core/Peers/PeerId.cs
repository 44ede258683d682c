using System.Diagnostics.CodeAnalysis;
using P2PNet.Crypto;
using P2PNet.Multiformats;
using SimpleBase;

namespace P2PNet.Peers;

/// <summary>
/// A libp2p peer id: the multihash of a peer's encoded public key — identity when the encoded key is at most
/// 42 bytes (Ed25519 ids start <c>12D3KooW</c>), sha2-256 otherwise (<c>Qm…</c>).
/// </summary>
/// <remarks>Immutable, thread-safe, with value equality. <see cref="ToString"/> gives base58btc;
/// <see cref="Parse(string)"/> also accepts the CIDv1 form (<c>libp2p-key</c>, multibase base32 or any other multibase).</remarks>
[System.ComponentModel.TypeConverter(typeof(PeerIdTypeConverter))]
public sealed class PeerId : IEquatable<PeerId>, ISpanParsable<PeerId>
{
    /// <summary>Encoded keys up to this length are inlined with the identity multihash.</summary>
    public const int MaxInlineKeyLength = 42;

    /// <summary>The multicodec of a libp2p public key in a CID.</summary>
    public const int Libp2pKeyCodec = 0x72;

    private readonly byte[] _multihash;
    private string? _text;

    private PeerId(byte[] multihash) => _multihash = multihash;

    /// <summary>The peer id's multihash bytes (its binary form, as in multiaddr <c>/p2p</c>).</summary>
    public ReadOnlySpan<byte> Bytes => _multihash;

    /// <summary>Returns a copy of the multihash bytes.</summary>
    public byte[] ToBytes() => (byte[])_multihash.Clone();

    /// <summary>Derives the peer id of <paramref name="publicKey"/>.</summary>
    public static PeerId FromPublicKey(PublicKey publicKey)
    {
        ArgumentNullException.ThrowIfNull(publicKey);
        byte[] encoded = publicKey.Encoded;
        return new PeerId(encoded.Length <= MaxInlineKeyLength ? Multihash.Identity(encoded) : Multihash.Sha256(encoded));
    }

    /// <summary>Reads a peer id from its multihash bytes.</summary>
    /// <exception cref="WireFormatException">The bytes are not a valid peer id multihash.</exception>
    public static PeerId FromBytes(ReadOnlySpan<byte> multihash)
    {
        var copy = multihash.ToArray();
        var (code, digest) = Multihash.Decode(copy);
        switch (code)
        {
            case Multihash.Sha256Code:
                break;
            case Multihash.IdentityCode:
                if (digest.Length > MaxInlineKeyLength)
                {
                    throw new WireFormatException($"An identity peer id inlines at most {MaxInlineKeyLength} key bytes, not {digest.Length}.");
                }
                _ = PublicKey.FromProtobuf(digest.Span); // must hold a real key
                break;
            default:
                throw new WireFormatException($"Peer ids use the identity or sha2-256 multihash, not code 0x{code:x}.");
        }
        return new PeerId(copy);
    }

    /// <summary>Parses base58btc (<c>12D3KooW…</c>, <c>Qm…</c>) or a CIDv1 in any multibase (<c>bafz…</c>, <c>k51…</c>).</summary>
    /// <exception cref="WireFormatException">The text is not a peer id.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="s"/> is <see langword="null"/>.</exception>
    public static PeerId Parse(string s)
    {
        ArgumentNullException.ThrowIfNull(s); // as Multiaddr.Parse does; null is a caller's bug, not malformed input
        return Parse(s.AsSpan());
    }

    /// <inheritdoc cref="Parse(string)"/>
    public static PeerId Parse(ReadOnlySpan<char> s)
    {
        if (s.IsEmpty)
        {
            throw new WireFormatException("A peer id cannot be empty.");
        }
        if (s.Length > 200)
        {
            throw new WireFormatException($"A peer id of {s.Length} characters is too long.");
        }
        if (s.ContainsAnyExceptInRange('!', '~'))
        {
            // Every peer id form is printable ASCII; SimpleBase's decoders index tables by character and throw
            // IndexOutOfRangeException for anything else (DEL, non-ASCII).
            throw new WireFormatException($"'{s}' is not a peer id: only printable ASCII characters can appear in one.");
        }
        if (s[0] == '1' || s.StartsWith("Qm", StringComparison.Ordinal))
        {
            return FromBytes(DecodeBase58(s));
        }
        // peer-ids.md: anything else is a multibase CIDv1 — base32 (b…) by default, but any multibase is allowed,
        // and go accepts base36 (k…) as IPNS names use it.
        return FromCid(DecodeMultibase(s));
    }

    private static PeerId FromCid(byte[] cid)
    {
        int version = Varint.ReadInt32(cid, out int n1);
        if (version != 1)
        {
            throw new WireFormatException($"A peer id CID must be CIDv1, not version {version}.");
        }
        int codec = Varint.ReadInt32(cid.AsSpan(n1), out int n2);
        if (codec != Libp2pKeyCodec)
        {
            throw new WireFormatException($"A peer id CID must have codec libp2p-key (0x72), not 0x{codec:x}.");
        }
        return FromBytes(cid.AsSpan(n1 + n2));
    }

    private static byte[] DecodeBase58(ReadOnlySpan<char> s)
    {
        try
        {
            return Base58.Bitcoin.Decode(s);
        }
        catch (ArgumentException e)
        {
            throw new WireFormatException($"'{s}' is not valid base58btc: {e.Message}", e);
        }
    }

    private static byte[] DecodeMultibase(ReadOnlySpan<char> s)
    {
        try
        {
            return Multibase.Decode(s);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidOperationException)
        {
            throw new WireFormatException(
                $"'{s}' is not a peer id: expected base58btc (12D3KooW…, Qm…) or a multibase CID (bafz…, k51…): {e.Message}", e);
        }
    }

    /// <summary>Parses, returning <see langword="false"/> instead of throwing.</summary>
    public static bool TryParse([NotNullWhen(true)] string? s, [NotNullWhen(true)] out PeerId? result)
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

    static PeerId IParsable<PeerId>.Parse(string s, IFormatProvider? provider) => Parse(s);

    static bool IParsable<PeerId>.TryParse([NotNullWhen(true)] string? s, IFormatProvider? provider, [MaybeNullWhen(false)] out PeerId result) =>
        TryParse(s, out result);

    static PeerId ISpanParsable<PeerId>.Parse(ReadOnlySpan<char> s, IFormatProvider? provider) => Parse(s);

    static bool ISpanParsable<PeerId>.TryParse(ReadOnlySpan<char> s, IFormatProvider? provider, [MaybeNullWhen(false)] out PeerId result) =>
        TryParse(s.ToString(), out result);

    /// <summary>The public key inlined in an identity peer id, or <see langword="null"/> for a hashed (sha2-256) id.</summary>
    public PublicKey? TryGetPublicKey()
    {
        var (code, digest) = Multihash.Decode(_multihash);
        return code == Multihash.IdentityCode ? PublicKey.FromProtobuf(digest.Span) : null;
    }

    /// <summary>Whether <paramref name="publicKey"/> is the key this id was derived from.</summary>
    public bool Matches(PublicKey publicKey) => Equals(FromPublicKey(publicKey));

    /// <summary>The CIDv1 form: multibase base32 (lower case, no padding) of <c>0x01 0x72 multihash</c>.</summary>
    public string ToCidString()
    {
        var cid = new byte[2 + _multihash.Length];
        cid[0] = 0x01;
        cid[1] = Libp2pKeyCodec;
        _multihash.CopyTo(cid, 2);
        return "b" + Base32.Rfc4648.Encode(cid, padding: false).ToLowerInvariant();
    }

    /// <summary>The base58btc form.</summary>
    public override string ToString() => _text ??= Base58.Bitcoin.Encode(_multihash);

    /// <inheritdoc />
    public bool Equals(PeerId? other) => other is not null && other._multihash.AsSpan().SequenceEqual(_multihash);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as PeerId);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(_multihash);
        return hash.ToHashCode();
    }

    /// <summary>Value equality.</summary>
    public static bool operator ==(PeerId? left, PeerId? right) => left is null ? right is null : left.Equals(right);

    /// <summary>Value inequality.</summary>
    public static bool operator !=(PeerId? left, PeerId? right) => !(left == right);
}
