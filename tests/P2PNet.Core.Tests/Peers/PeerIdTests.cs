using P2PNet.Core.Tests.Crypto;
using P2PNet.Core.Tests.IO;
using P2PNet.Crypto;
using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Core.Tests.Peers;

public sealed class PeerIdTests
{
    // libp2p/specs peer-ids.md, "String representation": the same sha2-256 id in both forms, and an Ed25519 id.
    private const string SpecSha256Id = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N";
    private const string SpecSha256Cid = "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe";
    private const string SpecEd25519Id = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";

    // go-multiaddr's test addresses: one sha2-256 and one Ed25519 id, each in base58btc, base32 CID and base36 CID.
    private const string GoSha256Id = "QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC";
    private const string GoSha256Cid = "bafzbeigvf25ytwc3akrijfecaotc74udrhcxzh2cx3we5qqnw5vgrei4bm";
    private const string GoSha256Base36Cid = "k2k4r8oqamigqdo6o7hsbfwd45y70oyynp98usk7zmyfrzpqxh1pohl7";
    private const string GoEd25519Id = "12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV";
    private const string GoEd25519Cid = "bafzaajaiaejcalj543iwv2d7pkjt7ykvefrkfu7qjfi6sduakhso4lay6abn2d5u";
    private const string GoEd25519Base36Cid = "k51qzi5uqu5dhb6l8spkdx7yxafegfkee5by8h7lmjh2ehc2sgg34z7c15vzqs";

    // The same multihash as GoSha256Id inside a CIDv1 with codec dag-pb (0x70) instead of libp2p-key.
    private const string DagPbBase36Cid = "k2jmtxwoe2phm1hbqp0e7nufqf6umvuu2e9qd7ana7h411a0haqj6i2z";

    [Theory]
    [InlineData(SpecSha256Cid, SpecSha256Id)]
    [InlineData(GoSha256Cid, GoSha256Id)]
    [InlineData(GoSha256Base36Cid, GoSha256Id)]
    [InlineData(GoEd25519Cid, GoEd25519Id)]
    [InlineData(GoEd25519Base36Cid, GoEd25519Id)]
    public void Parse_CidForm_GivesTheSameIdAsBase58(string cid, string base58)
    {
        var fromCid = PeerId.Parse(cid);
        Assert.Equal(PeerId.Parse(base58), fromCid);
        Assert.Equal(base58, fromCid.ToString());
    }

    [Theory]
    [InlineData(SpecSha256Id, SpecSha256Cid)]
    [InlineData(GoSha256Id, GoSha256Cid)]
    [InlineData(GoEd25519Id, GoEd25519Cid)]
    [InlineData(KeyVectors.SpecEd25519PeerId, KeyVectors.SpecEd25519PeerIdCid)]
    public void ToCidString_GivesTheBase32CidAndParsesBack(string base58, string cid)
    {
        var id = PeerId.Parse(base58);
        Assert.Equal(cid, id.ToCidString());
        Assert.Equal(id, PeerId.Parse(id.ToCidString()));
    }

    [Fact]
    public void Parse_UpperCaseBase32Cid_IsAccepted() =>
        Assert.Equal(PeerId.Parse(SpecSha256Id), PeerId.Parse("B" + SpecSha256Cid[1..].ToUpperInvariant()));

    [Fact]
    public void Parse_SpecEd25519Id_InlinesItsPublicKey()
    {
        var id = PeerId.Parse(SpecEd25519Id);
        var key = id.TryGetPublicKey();

        Assert.NotNull(key);
        Assert.Equal(KeyType.Ed25519, key.Type);
        Assert.Equal(id, key.ToPeerId());
        Assert.True(id.Matches(key));
    }

    [Fact]
    public void TryGetPublicKey_Sha256Id_ReturnsNull() =>
        Assert.Null(PeerId.Parse(SpecSha256Id).TryGetPublicKey());

    [Fact]
    public void TryGetPublicKey_Secp256k1Id_ReturnsTheKey()
    {
        var key = PublicKey.FromProtobuf(KeyVectors.Bytes(KeyVectors.SpecSecp256k1Public));
        Assert.Equal(key, PeerId.Parse(KeyVectors.SpecSecp256k1PeerId).TryGetPublicKey());
    }

    [Fact]
    public void FromPublicKey_KeyOfExactly42EncodedBytes_IsInlined()
    {
        // The inline limit counts the encoded key: 42 bytes is the last size that is not hashed.
        byte[] encoded = KeyVectors.Bytes(KeyVectors.SpecSecp256k1Public);
        Assert.True(encoded.Length <= PeerId.MaxInlineKeyLength);
        var id = PublicKey.FromProtobuf(encoded).ToPeerId();
        Assert.Equal(Multihash.Identity(encoded), id.ToBytes());
    }

    [Fact]
    public void Bytes_AreTheMultihash()
    {
        var id = PeerId.Parse(SpecSha256Id);
        var (code, digest) = Multihash.Decode(id.ToBytes());
        Assert.Equal(Multihash.Sha256Code, code);
        Assert.Equal(32, digest.Length);
        Assert.True(id.Bytes.SequenceEqual(id.ToBytes()));
        Assert.Equal(id, PeerId.FromBytes(id.Bytes));
    }

    [Fact]
    public void Equality_IsByValue()
    {
        var a = PeerId.Parse(SpecSha256Id);
        var b = PeerId.Parse(SpecSha256Cid);
        var c = PeerId.Parse(GoSha256Id);

        Assert.True(a == b);
        Assert.False(a != b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.True(a != c);
        Assert.False(a.Equals(null));
        Assert.False(a == null);
        Assert.Single(new HashSet<PeerId> { a, b });
    }

    [Fact]
    public void SpanParsable_ParsesLikeParse()
    {
        Assert.Equal(PeerId.Parse(SpecEd25519Id), ParseVia<PeerId>(SpecEd25519Id));
        Assert.True(PeerId.TryParse(SpecEd25519Id, out var parsed));
        Assert.Equal(SpecEd25519Id, parsed.ToString());
        Assert.False(PeerId.TryParse("nope", out _));
        Assert.False(PeerId.TryParse(null, out _));
    }

    private static T ParseVia<T>(string s) where T : ISpanParsable<T> => T.Parse(s.AsSpan(), null);

    [Theory]
    [InlineData("", "empty")]
    [InlineData("Qm0OIl", "base58")] // 0, O, I and l are not in the bitcoin alphabet
    [InlineData("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5", "multihash")] // one character short
    [InlineData("12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5S\u00e9", "ASCII")]
    [InlineData("z\u007f", "ASCII")]
    [InlineData("Qm YyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N", "ASCII")]
    [InlineData("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5NN", "trailing")]
    [InlineData("1", "")]
    [InlineData("bafz!!!", "peer id")]
    [InlineData("?unknownmultibase", "peer id")]
    [InlineData(DagPbBase36Cid, "libp2p-key")]
    public void Parse_MalformedText_ThrowsWireFormatException(string text, string fragment) =>
        WireFormatAssert.Throws(() => PeerId.Parse(text), fragment);

    [Fact]
    public void Parse_Null_ThrowsArgumentNullException() =>
        Assert.Throws<ArgumentNullException>(() => PeerId.Parse((string)null!));

    [Fact]
    public void Parse_TooLong_ThrowsWireFormatException() =>
        WireFormatAssert.Throws(() => PeerId.Parse("Qm" + new string('z', 300)), "too long");

    [Fact]
    public void Parse_CidVersionOtherThanOne_ThrowsWireFormatException()
    {
        byte[] cid = [0x02, 0x72, .. PeerId.Parse(SpecSha256Id).ToBytes()];
        WireFormatAssert.Throws(() => PeerId.Parse("b" + SimpleBase.Base32.Rfc4648.Encode(cid, padding: false).ToLowerInvariant()), "CIDv1");
    }

    [Fact]
    public void FromBytes_IdentityLongerThan42Bytes_ThrowsWireFormatException()
    {
        byte[] rsaKey = KeyVectors.Bytes(KeyVectors.SpecRsaPublic);
        WireFormatAssert.Throws(() => PeerId.FromBytes(Multihash.Identity(rsaKey)), "42");
    }

    [Fact]
    public void FromBytes_IdentityThatIsNoKey_ThrowsWireFormatException() =>
        WireFormatAssert.Throws(() => PeerId.FromBytes(Multihash.Identity([1, 2, 3])));

    [Fact]
    public void FromBytes_OtherHashFunction_ThrowsWireFormatException() =>
        WireFormatAssert.Throws(() => PeerId.FromBytes(Multihash.Encode(0x13, new byte[64])), "0x13");

    [Theory]
    [InlineData("")]
    [InlineData("12")]
    [InlineData("1220aa")]
    [InlineData("1210aabbccddeeff00112233445566778899")] // sha2-256 with a 16-byte digest
    public void FromBytes_MalformedMultihash_ThrowsWireFormatException(string hex) =>
        WireFormatAssert.Throws(() => PeerId.FromBytes(Convert.FromHexString(hex)));
}
