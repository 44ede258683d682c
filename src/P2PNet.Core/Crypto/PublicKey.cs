using P2PNet.Peers;

namespace P2PNet.Crypto;

/// <summary>
/// A peer's public identity key of any libp2p key type. Verifies signatures and converts to and from
/// libp2p's protobuf encoding, so keys are interchangeable with go-, rust- and js-libp2p.
/// </summary>
/// <remarks>Instances are immutable and thread-safe. Equality compares key type and key bytes.</remarks>
public abstract class PublicKey : IEquatable<PublicKey>
{
    private readonly byte[] _data;
    private byte[]? _encoded;

    private protected PublicKey(byte[] data) => _data = data;

    /// <summary>The key algorithm.</summary>
    public abstract KeyType Type { get; }

    /// <summary>The key bytes as carried in the protobuf envelope's <c>Data</c> field.</summary>
    public ReadOnlySpan<byte> Data => _data;

    /// <summary>Checks <paramref name="signature"/> over <paramref name="data"/>; never throws for a malformed signature.</summary>
    public abstract bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature);

    /// <summary>The libp2p protobuf encoding (<c>PublicKey { Type, Data }</c>), deterministic.</summary>
    public byte[] ToProtobuf() => (byte[])Encoded.Clone();

    internal byte[] Encoded => _encoded ??= KeyEnvelope.Encode(Type, _data);

    /// <summary>The peer id this key identifies.</summary>
    public PeerId ToPeerId() => PeerId.FromPublicKey(this);

    /// <summary>Decodes a key from libp2p's protobuf encoding.</summary>
    /// <exception cref="WireFormatException">The bytes are not a valid encoded public key.</exception>
    public static PublicKey FromProtobuf(ReadOnlySpan<byte> encoded)
    {
        var (type, data) = KeyEnvelope.Decode(encoded, "public key");
        return Create(type, data);
    }

    /// <summary>Creates a key from its type and raw key bytes.</summary>
    /// <exception cref="WireFormatException">The bytes are not a valid key of that type.</exception>
    public static PublicKey Create(KeyType type, ReadOnlySpan<byte> data) => type switch
    {
        KeyType.Ed25519 => new Ed25519PublicKey(data.ToArray()),
        KeyType.Secp256k1 => Secp256k1PublicKey.Create(data.ToArray()),
        KeyType.Ecdsa => EcdsaPublicKey.Create(data.ToArray()),
        KeyType.Rsa => RsaPublicKey.Create(data.ToArray()),
        _ => throw new WireFormatException($"Unknown key type {(int)type}."),
    };

    /// <inheritdoc />
    public bool Equals(PublicKey? other) =>
        other is not null && other.Type == Type && other.Data.SequenceEqual(Data);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as PublicKey);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Type);
        hash.AddBytes(Data);
        return hash.ToHashCode();
    }

    /// <summary>The key type and the peer id it identifies.</summary>
    public override string ToString() => $"{Type} {ToPeerId()}";
}
