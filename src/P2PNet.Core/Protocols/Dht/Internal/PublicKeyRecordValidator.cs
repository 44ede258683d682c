using P2PNet.Crypto;
using P2PNet.Peers;

namespace P2PNet.Protocols.Dht.Internal;

/// <summary>The <c>/pk/</c> namespace (kad-dht spec, "Validator"; go-libp2p-record's <c>PublicKeyValidator</c>): the key
/// is <c>/pk/</c> followed by a peer id's multihash bytes, the value the protobuf <c>PublicKey</c> that hashes to that
/// peer id. Every valid value of a key is the same key, so any may be selected.</summary>
internal sealed class PublicKeyRecordValidator : IDhtRecordValidator
{
    public static readonly PublicKeyRecordValidator Instance = new();

    private static ReadOnlySpan<byte> Prefix => "/pk/"u8;

    public void Validate(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        if (!key.StartsWith(Prefix))
        {
            throw new DhtRecordException("A public-key record key starts with /pk/.");
        }
        PeerId expected;
        PublicKey publicKey;
        try
        {
            expected = PeerId.FromBytes(key[Prefix.Length..]);
            publicKey = PublicKey.FromProtobuf(value);
        }
        catch (Exception e) when (e is WireFormatException or FormatException or ArgumentException or NotSupportedException
            or System.Security.Cryptography.CryptographicException)
        {
            throw new DhtRecordException($"A malformed public-key record: {e.Message}", e);
        }
        if (PeerId.FromPublicKey(publicKey) != expected)
        {
            throw new DhtRecordException($"The public key in the record is not {expected}'s.");
        }
    }

    public int Select(ReadOnlySpan<byte> key, IReadOnlyList<byte[]> values) => 0;
}
