using System.Security.Cryptography;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using P2PNet.Core.Tests.Crypto;
using P2PNet.Core.Tests.IO;
using P2PNet.Crypto;
using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Core.Tests.Peers;

public sealed class PeerIdPropertyTests
{
    /// <summary>Identity ids of fresh Ed25519 keys and sha2-256 ids of random digests.</summary>
    internal static Gen<PeerId> PeerIds =>
        Gen.OneOf(
            Gen.Fresh(() => PrivateKey.GenerateEd25519().PublicKey.ToPeerId()),
            Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>(), 32).Select(d => PeerId.FromBytes(Multihash.Encode(Multihash.Sha256Code, d))));

    private static readonly byte[][] ValidIds =
    [
        .. new[] { KeyVectors.SpecEd25519PeerId, KeyVectors.SpecSecp256k1PeerId, KeyVectors.SpecRsaPeerId }
            .Select(s => PeerId.Parse(s).ToBytes()),
    ];

    [Property(MaxTest = 300)]
    public Property Base58_AnyPeerId_RoundTrips()
    {
        return Prop.ForAll(PeerIds.ToArbitrary(), id =>
        {
            string text = id.ToString();
            return PeerId.Parse(text) == id
                && (text.StartsWith("12D3KooW", StringComparison.Ordinal) || text.StartsWith("Qm", StringComparison.Ordinal));
        });
    }

    [Property(MaxTest = 300)]
    public Property Cid_AnyPeerId_RoundTrips()
    {
        return Prop.ForAll(PeerIds.ToArbitrary(), id =>
        {
            string cid = id.ToCidString();
            return PeerId.Parse(cid) == id && cid.StartsWith("bafz", StringComparison.Ordinal) && !cid.Any(char.IsAsciiLetterUpper);
        });
    }

    [Property(MaxTest = 100)]
    public Property FromBytes_AnyPeerId_RoundTrips()
    {
        return Prop.ForAll(PeerIds.ToArbitrary(), id => PeerId.FromBytes(id.ToBytes()) == id);
    }

    [Property(MaxTest = 3000)]
    public Property FromBytes_ArbitraryOrDamagedBytes_SucceedsOrThrowsWireFormatException()
    {
        return Prop.ForAll(MalformedInputs.BytesOrMutationsOf(ValidIds), bytes =>
        {
            if (WireFormatAssert.SucceedsOrThrowsWireFormat(() => PeerId.FromBytes(bytes)))
            {
                var id = PeerId.FromBytes(bytes);
                Assert.Equal(id, PeerId.Parse(id.ToString()));
                Assert.Equal(id, PeerId.Parse(id.ToCidString()));
                _ = id.TryGetPublicKey();
            }
        });
    }

    [Property(MaxTest = 5000)]
    public Property Parse_ArbitraryOrDamagedText_SucceedsOrThrowsWireFormatException()
    {
        string[] valid =
        [
            KeyVectors.SpecEd25519PeerId, KeyVectors.SpecRsaPeerId, KeyVectors.SpecEd25519PeerIdCid,
            "k51qzi5uqu5dhb6l8spkdx7yxafegfkee5by8h7lmjh2ehc2sgg34z7c15vzqs",
        ];
        const string alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!/=_-+ \u00e9\U0001F600";
        var damaged =
            from seed in Gen.Elements(valid)
            from index in Gen.Choose(0, seed.Length - 1)
            from kind in Gen.Choose(0, 3)
            from c in Gen.Elements(alphabet.ToCharArray())
            select kind switch
            {
                0 => seed[..index],
                1 => seed[..index] + c + seed[(index + 1)..],
                2 => seed[..index] + c + seed[index..],
                _ => c + seed[1..],
            };
        var prefixed =
            from prefix in Gen.Elements("1", "Qm", "b", "B", "k", "K", "z", "f", "F", "u", "m", "M", "9", "t", "0", "7")
            from body in Gen.ArrayOf(Gen.Elements(alphabet.ToCharArray()))
            select prefix + new string(body);
        var anyText = ArbMap.Default.GeneratorFor<string>().Select(s => s ?? string.Empty);
        return Prop.ForAll(Gen.OneOf(damaged, prefixed, anyText).ToArbitrary(), text =>
        {
            _ = WireFormatAssert.SucceedsOrThrowsWireFormat(() => PeerId.Parse(text));
        });
    }

    [Property(MaxTest = 50)]
    public Property Matches_KeyOfAnotherId_IsFalse()
    {
        return Prop.ForAll(PeerIds.ToArbitrary(), id =>
        {
            using var other = PrivateKey.GenerateEd25519();
            return !id.Matches(other.PublicKey);
        });
    }

    [Fact]
    public void FromPublicKey_RsaKeys_AreHashedWithSha256()
    {
        using var rsa = RSA.Create(2048);
        var key = PublicKey.FromProtobuf(KeyEnvelopes.Encode(KeyType.Rsa, rsa.ExportSubjectPublicKeyInfo()));
        var id = key.ToPeerId();
        Assert.Equal(Multihash.Sha256(key.ToProtobuf()), id.ToBytes());
        Assert.Null(id.TryGetPublicKey());
        Assert.True(id.Matches(key));
    }
}
