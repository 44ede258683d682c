using System.Buffers;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using P2PNet.IO;
using P2PNet.Multiformats;
using P2PNet.Testing.IO;

namespace P2PNet.Core.Tests.IO;

public sealed class LengthPrefixedTests
{
    private const int Max = 1 << 16;

    // Short messages and ones whose length needs a two-byte varint.
    private static Gen<byte[]> Message => Gen.OneOf(
        Gen.Choose(0, 3).SelectMany(n => Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>(), n)),
        Gen.Choose(120, 300).SelectMany(n => Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>(), n)));

    private static Gen<byte[][]> MessageLists => Gen.ListOf(Message).Select(list => list.ToArray());

    // Splitting at every offset is quadratic in the input length: keep these inputs to a few messages.
    private static Gen<byte[][]> ShortMessageLists => Gen.Choose(0, 4).SelectMany(n => Gen.ArrayOf(Message, n));

    internal static byte[] Frame(params byte[][] messages)
    {
        var writer = new ArrayBufferWriter<byte>();
        foreach (var message in messages)
        {
            LengthPrefixed.Write(writer, message);
        }
        return writer.WrittenSpan.ToArray();
    }

    private static List<byte[]> ParseAll(ReadOnlySequence<byte> buffer, int maxSize, out long left)
    {
        var messages = new List<byte[]>();
        while (LengthPrefixed.TryParse(ref buffer, maxSize, out var message))
        {
            messages.Add(message.ToArray());
        }
        left = buffer.Length;
        return messages;
    }

    [Fact]
    public void Write_PrefixesTheVarintLength()
    {
        Assert.Equal(Convert.FromHexString("03616263"), Frame("abc"u8.ToArray()));
        Assert.Equal(Convert.FromHexString("00"), Frame(Array.Empty<byte>()));
        byte[] big = new byte[300];
        Assert.Equal(Convert.FromHexString("ac02"), Frame(big)[..2]);
        Assert.Equal(302, Frame(big).Length);
    }

    [Fact]
    public void TryParse_TwoMessages_ReturnsEachAndAdvancesPastIt()
    {
        var buffer = new ReadOnlySequence<byte>(Convert.FromHexString("036162630100ff"));

        Assert.True(LengthPrefixed.TryParse(ref buffer, Max, out var first));
        Assert.Equal("abc"u8.ToArray(), first.ToArray());
        Assert.True(LengthPrefixed.TryParse(ref buffer, Max, out var second));
        Assert.Equal(new byte[] { 0 }, second.ToArray());
        Assert.Equal(1, buffer.Length); // 0xff: the start of a varint that has not ended
        Assert.False(LengthPrefixed.TryParse(ref buffer, Max, out _));
        Assert.Equal(1, buffer.Length);
    }

    [Theory]
    [InlineData("")]
    [InlineData("80")]
    [InlineData("03")]
    [InlineData("036162")]
    [InlineData("ac02")]
    public void TryParse_Incomplete_ReturnsFalseAndLeavesTheBuffer(string hex)
    {
        var buffer = new ReadOnlySequence<byte>(Convert.FromHexString(hex));
        Assert.False(LengthPrefixed.TryParse(ref buffer, Max, out var message));
        Assert.Equal(hex.Length / 2, buffer.Length);
        Assert.True(message.IsEmpty);
    }

    [Fact]
    public void TryParse_LengthAboveMax_ThrowsWireFormatExceptionFromThePrefixAlone()
    {
        var buffer = new ReadOnlySequence<byte>(Varint.Encode(101)); // no body at all
        WireFormatAssert.Throws(() => LengthPrefixed.TryParse(ref buffer, 100, out _), "exceeds the 100-byte limit");
    }

    [Fact]
    public void TryParse_LengthEqualToMax_IsAccepted()
    {
        var buffer = new ReadOnlySequence<byte>(Frame(new byte[100]));
        Assert.True(LengthPrefixed.TryParse(ref buffer, 100, out var message));
        Assert.Equal(100, message.Length);
    }

    [Theory]
    [InlineData("8000")]
    [InlineData("ffffffffffffffffff01")]
    public void TryParse_MalformedLength_ThrowsWireFormatException(string hex)
    {
        var buffer = new ReadOnlySequence<byte>(Convert.FromHexString(hex));
        WireFormatAssert.Throws(() => LengthPrefixed.TryParse(ref buffer, Max, out _), "varint");
    }

    [Fact]
    public void TryParse_HugeLength_ThrowsWireFormatException()
    {
        var buffer = new ReadOnlySequence<byte>(Varint.Encode(Varint.MaxValue));
        WireFormatAssert.Throws(() => LengthPrefixed.TryParse(ref buffer, int.MaxValue, out _), "exceeds");
    }

    [Fact]
    public void TryParse_NegativeMax_ThrowsArgumentOutOfRange()
    {
        var buffer = new ReadOnlySequence<byte>(Frame(new byte[10]));
        Assert.Throws<ArgumentOutOfRangeException>(() => LengthPrefixed.TryParse(ref buffer, -1, out _));
    }

    [Property(MaxTest = 100)]
    public Property RoundTrip_AnyMessages_ParseBackInOrder()
    {
        return Prop.ForAll(MessageLists.ToArbitrary(), messages =>
        {
            var parsed = ParseAll(new ReadOnlySequence<byte>(Frame(messages)), Max, out long left);
            Assert.Equal(messages, parsed);
            Assert.Equal(0, left);
        });
    }

    [Property(MaxTest = 100)]
    public Property TryParse_InputSplitAtEveryOffset_ParsesTheSameMessages()
    {
        return Prop.ForAll(ShortMessageLists.ToArbitrary(), messages =>
        {
            byte[] data = Frame(messages);
            foreach (var sequence in SequenceSegments.EverySplit(data))
            {
                Assert.Equal(messages, ParseAll(sequence, Max, out long left));
                Assert.Equal(0, left);
            }
        });
    }

    [Property(MaxTest = 500)]
    public Property TryParse_ArbitraryBytesSplitAnywhere_AgreesWithContiguousAndThrowsOnlyWireFormatException()
    {
        return Prop.ForAll(MalformedInputs.BytesOrMutationsOf(Frame([1, 2, 3], [4]), Frame(new byte[200])), bytes =>
        {
            string expected = Outcome(new ReadOnlySequence<byte>(bytes));
            foreach (var sequence in SequenceSegments.EverySplit(bytes))
            {
                Assert.Equal(expected, Outcome(sequence));
            }
        });

        static string Outcome(ReadOnlySequence<byte> sequence)
        {
            try
            {
                var messages = ParseAll(sequence, 150, out long left);
                return string.Join(',', messages.Select(Convert.ToHexString)) + $"|{left}";
            }
            catch (WireFormatException)
            {
                return "malformed";
            }
        }
    }
}
