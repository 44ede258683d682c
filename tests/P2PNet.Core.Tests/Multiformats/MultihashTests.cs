using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using P2PNet.Core.Tests.IO;
using P2PNet.Multiformats;

namespace P2PNet.Core.Tests.Multiformats;

public sealed class MultihashTests
{
    [Fact]
    public void Sha256_OfTheWordMultihash_MatchesTheMultihashSpecExample()
    {
        // multiformats/multihash README: sha2-256("multihash").
        Assert.Equal(
            Convert.FromHexString("12209cbc07c3f991725836a3aa2a581ca2029198aa420b9d99bc0e131d9f3e2cbe47"),
            Multihash.Sha256(Encoding.ASCII.GetBytes("multihash")));
    }

    [Fact]
    public void Identity_KeepsTheInputAsTheDigest() =>
        Assert.Equal(Convert.FromHexString("0003616263"), Multihash.Identity("abc"u8));

    [Fact]
    public void Encode_CodeAboveOneByte_UsesAVarintCode() =>
        Assert.Equal(Convert.FromHexString("d50102abcd"), Multihash.Encode(0xd5, [0xab, 0xcd]));

    [Fact]
    public void Decode_Sha256Multihash_GivesCodeAndDigest()
    {
        byte[] mh = Multihash.Sha256([1, 2, 3]);
        var (code, digest) = Multihash.Decode(mh);
        Assert.Equal(Multihash.Sha256Code, code);
        Assert.Equal(mh[2..], digest.ToArray());
    }

    [Fact]
    public void Decode_EmptyInput_ThrowsWireFormatException() =>
        WireFormatAssert.Throws(() => Multihash.Decode(Array.Empty<byte>()), "empty");

    [Fact]
    public void Decode_TrailingBytes_ThrowsWireFormatException() =>
        WireFormatAssert.Throws(() => Multihash.Decode(Convert.FromHexString("000161ff")), "trailing");

    [Fact]
    public void Decode_TruncatedDigest_ThrowsWireFormatException() =>
        WireFormatAssert.Throws(() => Multihash.Decode(Convert.FromHexString("000561")), "truncated");

    [Fact]
    public void Decode_MissingLength_ThrowsWireFormatException() =>
        WireFormatAssert.Throws(() => Multihash.Decode(Convert.FromHexString("12")));

    [Fact]
    public void Decode_Sha256WithWrongDigestLength_ThrowsWireFormatException() =>
        WireFormatAssert.Throws(() => Multihash.Decode(Multihash.Encode(Multihash.Sha256Code, new byte[31])), "32-byte");

    [Fact]
    public void Decode_DigestLongerThanTheLimit_ThrowsWireFormatExceptionBeforeReadingIt() =>
        WireFormatAssert.Throws(() => Multihash.Decode(Convert.FromHexString("00ffffff07")), "exceeds");

    [Fact]
    public void GetLength_MultihashFollowedByMoreData_ReturnsOnlyTheMultihashLength()
    {
        byte[] data = [.. Multihash.Identity([9, 9, 9]), 0x55, 0x66];
        Assert.Equal(5, Multihash.GetLength(data, out int code, out int offset, out int length));
        Assert.Equal((Multihash.IdentityCode, 2, 3), (code, offset, length));
    }

    [Property(MaxTest = 500)]
    public Property RoundTrip_AnyCodeAndDigest_DecodesToTheSame()
    {
        var gen =
            from code in Gen.Choose(0, int.MaxValue).Where(c => c != Multihash.Sha256Code)
            from digest in Gen.Choose(0, Multihash.MaxDigestLength).SelectMany(n => Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>(), n))
            select (code, digest);
        return Prop.ForAll(gen.ToArbitrary(), t =>
        {
            var (code, digest) = Multihash.Decode(Multihash.Encode(t.code, t.digest));
            return code == t.code && digest.Span.SequenceEqual(t.digest);
        });
    }

    [Property(MaxTest = 5000)]
    public Property Decode_ArbitraryBytes_SucceedsOrThrowsWireFormatException()
    {
        return Prop.ForAll(ArbMap.Default.ArbFor<byte[]>(), bytes =>
        {
            _ = WireFormatAssert.SucceedsOrThrowsWireFormat(() => Multihash.Decode(bytes ?? []));
        });
    }
}
