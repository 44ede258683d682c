using System.Buffers;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using P2PNet.Core.Tests.IO;
using P2PNet.Multiformats;
using P2PNet.Testing.IO;

namespace P2PNet.Core.Tests.Multiformats;

public sealed class VarintTests
{
    // multiformats/unsigned-varint README examples, plus the largest value the nine-byte limit allows.
    public static TheoryData<ulong, string> SpecVectors => new()
    {
        { 0, "00" },
        { 1, "01" },
        { 127, "7f" },
        { 128, "8001" },
        { 255, "ff01" },
        { 300, "ac02" },
        { 16384, "808001" },
        { Varint.MaxValue, "ffffffffffffffff7f" },
    };

    private static Arbitrary<ulong> ValidValues =>
        ArbMap.Default.ArbFor<ulong>().Convert(v => v & Varint.MaxValue, v => v);

    private static Gen<ulong> InterestingValues =>
        Gen.OneOf(
            ArbMap.Default.GeneratorFor<ulong>().Select(v => v & Varint.MaxValue),
            Gen.Choose(0, 62).Select(bit => 1UL << bit),
            Gen.Choose(1, 63).Select(bit => (1UL << bit) - 1));

    [Theory]
    [MemberData(nameof(SpecVectors))]
    public void Encode_SpecVector_GivesSpecBytes(ulong value, string hex)
    {
        Assert.Equal(Convert.FromHexString(hex), Varint.Encode(value));
        Assert.Equal(hex.Length / 2, Varint.GetByteCount(value));
    }

    [Theory]
    [MemberData(nameof(SpecVectors))]
    public void TryRead_SpecVector_GivesValueAndLength(ulong value, string hex)
    {
        byte[] bytes = Convert.FromHexString(hex + "ff"); // a trailing byte must not be consumed
        Assert.True(Varint.TryRead(bytes, out ulong read, out int consumed));
        Assert.Equal(value, read);
        Assert.Equal(hex.Length / 2, consumed);
    }

    [Theory]
    [InlineData("8000")]
    [InlineData("ff00")]
    [InlineData("808000")]
    [InlineData("ff8000")]
    public void TryRead_NonMinimalEncoding_ThrowsWireFormatException(string hex) =>
        WireFormatAssert.Throws(() => Varint.TryRead(Convert.FromHexString(hex), out _, out _), "minimal");

    [Theory]
    [InlineData("ffffffffffffffffff")] // nine bytes, the ninth still says "more"
    [InlineData("ffffffffffffffffff01")] // ten bytes
    [InlineData("80808080808080808001")]
    public void TryRead_LongerThanNineBytes_ThrowsWireFormatException(string hex) =>
        WireFormatAssert.Throws(() => Varint.TryRead(Convert.FromHexString(hex), out _, out _), "longer than 9");

    [Theory]
    [InlineData("")]
    [InlineData("80")]
    [InlineData("ff80")]
    [InlineData("ffffffffffffffff")] // eight continuation bytes: a ninth could still end it
    public void TryRead_TruncatedVarint_ReturnsFalse(string hex)
    {
        Assert.False(Varint.TryRead(Convert.FromHexString(hex), out ulong value, out int consumed));
        Assert.Equal(0UL, value);
        Assert.Equal(0, consumed);
    }

    [Fact]
    public void Read_EmptyInput_ThrowsWireFormatException() =>
        WireFormatAssert.Throws(() => Varint.Read([], out _), "empty");

    [Fact]
    public void Read_TruncatedInput_ThrowsWireFormatException() =>
        WireFormatAssert.Throws(() => Varint.Read([0x80, 0x80], out _), "ends inside");

    [Fact]
    public void ReadInt32_ValueAboveInt32Max_ThrowsWireFormatException() =>
        WireFormatAssert.Throws(() => Varint.ReadInt32(Varint.Encode((ulong)int.MaxValue + 1), out _), "too large");

    [Fact]
    public void ReadInt32_Int32Max_IsRead()
    {
        Assert.Equal(int.MaxValue, Varint.ReadInt32(Varint.Encode(int.MaxValue), out int consumed));
        Assert.Equal(5, consumed);
    }

    [Fact]
    public void Write_ValueAboveMaxValue_ThrowsArgumentOutOfRange() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Varint.Encode(Varint.MaxValue + 1));

    [Fact]
    public void Write_DestinationTooShort_ThrowsArgumentException() =>
        Assert.Throws<ArgumentException>(() => Varint.Write(new byte[1], 128));

    [Property(MaxTest = 2000)]
    public Property RoundTrip_AnyValidValue_ReadsBackTheValueAndLength()
    {
        return Prop.ForAll(InterestingValues.ToArbitrary(), value =>
        {
            byte[] encoded = Varint.Encode(value);
            return encoded.Length == Varint.GetByteCount(value)
                && encoded.Length <= Varint.MaxLength
                && Varint.TryRead(encoded, out ulong read, out int consumed)
                && read == value
                && consumed == encoded.Length;
        });
    }

    [Property(MaxTest = 100)]
    public Property WriteToBufferWriter_AnyValidValue_WritesTheSameBytesAsEncode()
    {
        return Prop.ForAll(ValidValues, value =>
        {
            var writer = new ArrayBufferWriter<byte>();
            Varint.Write(writer, value);
            return writer.WrittenSpan.SequenceEqual(Varint.Encode(value));
        });
    }

    [Property(MaxTest = 5000)]
    public Property TryRead_ArbitraryBytes_SucceedsNeedsMoreOrThrowsWireFormatException()
    {
        return Prop.ForAll(ArbMap.Default.ArbFor<byte[]>(), bytes =>
        {
            bytes ??= [];
            WireFormatAssert.SucceedsOrThrowsWireFormat(() =>
            {
                if (Varint.TryRead(bytes, out ulong value, out int consumed))
                {
                    // Whatever parses must be the one canonical encoding of its value.
                    Assert.Equal(Varint.Encode(value), bytes[..consumed]);
                }
            });
        });
    }

    [Property(MaxTest = 500)]
    public Property TryReadSequence_ValueSplitAtEveryOffset_ReadsTheSameAsContiguous()
    {
        return Prop.ForAll(InterestingValues.ToArbitrary(), value =>
        {
            byte[] data = [.. Varint.Encode(value), 0xAB, 0xCD];
            foreach (var sequence in SequenceSegments.EverySplit(data))
            {
                var reader = new SequenceReader<byte>(sequence);
                Assert.True(Varint.TryRead(ref reader, out ulong read));
                Assert.Equal(value, read);
                Assert.Equal(Varint.GetByteCount(value), reader.Consumed);
            }
        });
    }

    [Property(MaxTest = 200)]
    public Property TryReadSequence_EveryTruncatedPrefix_ReturnsFalseWithoutAdvancing()
    {
        return Prop.ForAll(InterestingValues.ToArbitrary(), value =>
        {
            byte[] encoded = Varint.Encode(value);
            for (int length = 0; length < encoded.Length; length++)
            {
                byte[] prefix = encoded[..length];
                foreach (var sequence in SequenceSegments.EverySplit(prefix))
                {
                    var reader = new SequenceReader<byte>(sequence);
                    Assert.False(Varint.TryRead(ref reader, out _));
                    Assert.Equal(0, reader.Consumed);
                }
            }
        });
    }

    [Property(MaxTest = 1000)]
    public Property TryReadSequence_ArbitraryBytesSplitAnywhere_AgreesWithTheSpanReader()
    {
        return Prop.ForAll(ArbMap.Default.ArbFor<byte[]>(), bytes =>
        {
            bytes ??= [];
            string expected = Outcome(() => Varint.TryRead(bytes, out ulong v, out int n) ? $"{v}/{n}" : "more");
            foreach (var sequence in SequenceSegments.EverySplit(bytes))
            {
                string actual = Outcome(() =>
                {
                    var reader = new SequenceReader<byte>(sequence);
                    return Varint.TryRead(ref reader, out ulong v) ? $"{v}/{reader.Consumed}" : "more";
                });
                Assert.Equal(expected, actual);
            }
        });
    }

    private static string Outcome(Func<string> read)
    {
        try
        {
            return read();
        }
        catch (WireFormatException)
        {
            return "malformed";
        }
    }
}
