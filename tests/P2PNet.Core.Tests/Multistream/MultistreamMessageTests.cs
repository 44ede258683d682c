using System.Buffers;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using P2PNet.Multistream;

namespace P2PNet.Core.Tests.Multistream;

public class MultistreamMessageTests
{
    private static readonly Gen<string> ProtocolIds =
        Gen.Elements("/", "ipfs", "id", "1.0.0", "noise", "yamux", "-", "_", "é", "漢字", "🙂", " ", "\t", "na", "ls")
            .ListOf()
            .Select(parts => string.Concat(parts));

    private static byte[] Encode(params string[] messages)
    {
        var writer = new ArrayBufferWriter<byte>();
        foreach (string message in messages)
        {
            MultistreamMessage.Write(writer, message);
        }
        return writer.WrittenSpan.ToArray();
    }

    private static List<string> ParseAll(ReadOnlySequence<byte> buffer)
    {
        var messages = new List<string>();
        while (MultistreamMessage.TryParse(ref buffer, out string? message))
        {
            messages.Add(message);
        }
        Assert.True(buffer.IsEmpty);
        return messages;
    }

    [Fact]
    public void Message_IsLengthPrefixedWithNewline_AsInTheSpec()
    {
        // multistream-select README: "na\n" is 0x036e610a and "ls\n" is 0x036c730a.
        Assert.Equal(Convert.FromHexString("036e610a"), Encode("na"));
        Assert.Equal(Convert.FromHexString("036c730a"), Encode("ls"));
        Assert.Equal([0x13, .. "/multistream/1.0.0\n"u8], Encode("/multistream/1.0.0"));
    }

    [Property(MaxTest = 500)]
    public Property Message_RoundTrips()
    {
        return Prop.ForAll(ProtocolIds.ToArbitrary(), text =>
        {
            var buffer = new ReadOnlySequence<byte>(Encode(text));
            return MultistreamMessage.TryParse(ref buffer, out string? parsed) && parsed == text && buffer.IsEmpty;
        });
    }

    [Property(MaxTest = 500)]
    public Property Message_WithArbitraryUnicode_RoundTripsOrIsRejectedOnWrite()
    {
        return Prop.ForAll(ArbMap.Default.ArbFor<string>(), text =>
        {
            byte[] encoded;
            try
            {
                encoded = Encode(text ?? "");
            }
            catch (ArgumentException)
            {
                // Lone surrogates and newlines cannot be sent.
                return (text ?? "").Contains('\n', StringComparison.Ordinal) || !IsValidUtf16(text!);
            }
            var buffer = new ReadOnlySequence<byte>(encoded);
            return MultistreamMessage.TryParse(ref buffer, out string? parsed) && parsed == (text ?? "");
        });
    }

    [Property(MaxTest = 3000)]
    public Property ArbitraryBytes_ParseOnlyToAValidMessageOrWireFormatException()
    {
        Gen<byte[]> raw = ArbMap.Default.GeneratorFor<byte[]>();
        // Bias half the inputs towards plausible frames: a small length prefix, then random bytes often ending in '\n'.
        Gen<byte[]> framed =
            from length in Gen.Choose(0, 60)
            from body in ArbMap.Default.GeneratorFor<byte>().ArrayOf(length)
            from newline in ArbMap.Default.GeneratorFor<bool>()
            from extra in Gen.Choose(-2, 3)
            select (byte[])[(byte)Math.Max(0, length + extra), .. body, .. (newline ? "\n"u8.ToArray() : [])];
        return Prop.ForAll(Gen.OneOf(raw, framed).ToArbitrary(), bytes =>
        {
            var buffer = new ReadOnlySequence<byte>(bytes);
            try
            {
                if (!MultistreamMessage.TryParse(ref buffer, out string? message))
                {
                    return buffer.Length == bytes.Length;
                }
                // A parsed message re-encodes to exactly the bytes it consumed.
                int consumed = bytes.Length - (int)buffer.Length;
                return Encode(message).AsSpan().SequenceEqual(bytes.AsSpan(0, consumed));
            }
            catch (WireFormatException)
            {
                return true;
            }
        });
    }

    [Fact]
    public void Messages_SplitAtEveryOffset_ParseTheSame()
    {
        string[] messages = ["/multistream/1.0.0", "/noise", "na", "", "/ipfs/id/1.0.0", "漢字🙂"];
        byte[] encoded = Encode(messages);
        for (int i = 0; i <= encoded.Length; i++)
        {
            for (int j = i; j <= encoded.Length; j += 7)
            {
                Assert.Equal(messages, ParseAll(TestPipes.Segmented(encoded, i, j)));
            }
        }
    }

    [Fact]
    public void Message_Incomplete_NeedsMoreBytesAndLeavesTheBufferAlone()
    {
        byte[] encoded = Encode("/yamux/1.0.0");
        for (int length = 0; length < encoded.Length; length++)
        {
            var buffer = new ReadOnlySequence<byte>(encoded, 0, length);
            Assert.False(MultistreamMessage.TryParse(ref buffer, out _));
            Assert.Equal(length, buffer.Length);
        }
    }

    [Fact]
    public void Message_WithoutTrailingNewline_IsRejected()
    {
        var buffer = new ReadOnlySequence<byte>([3, (byte)'a', (byte)'b', (byte)'c']);
        Assert.Throws<WireFormatException>(() => MultistreamMessage.TryParse(ref buffer, out _));
        var empty = new ReadOnlySequence<byte>([0]);
        Assert.Throws<WireFormatException>(() => MultistreamMessage.TryParse(ref empty, out _));
    }

    [Fact]
    public void Message_WithNewlineInside_IsRejected()
    {
        var buffer = new ReadOnlySequence<byte>([4, (byte)'a', (byte)'\n', (byte)'b', (byte)'\n']);
        Assert.Throws<WireFormatException>(() => MultistreamMessage.TryParse(ref buffer, out _));
    }

    [Fact]
    public void Message_NotUtf8_IsRejected()
    {
        var buffer = new ReadOnlySequence<byte>([3, 0xC3, 0x28, (byte)'\n']);
        Assert.Throws<WireFormatException>(() => MultistreamMessage.TryParse(ref buffer, out _));
    }

    [Fact]
    public void Message_LongerThan1024Bytes_IsRejectedFromItsLengthAlone()
    {
        // 1025 as a varint, and no body: rejected before buffering anything.
        var buffer = new ReadOnlySequence<byte>([0x81, 0x08]);
        Assert.Throws<WireFormatException>(() => MultistreamMessage.TryParse(ref buffer, out _));
        string longest = new('a', MultistreamMessage.MaxProtocolIdLength);
        var ok = new ReadOnlySequence<byte>(Encode(longest));
        Assert.True(MultistreamMessage.TryParse(ref ok, out string? parsed));
        Assert.Equal(longest, parsed);
    }

    [Fact]
    public void Write_OfUnsendableText_ThrowsArgumentException()
    {
        var writer = new ArrayBufferWriter<byte>();
        Assert.Throws<ArgumentException>(() => MultistreamMessage.Write(writer, "a\nb"));
        Assert.Throws<ArgumentException>(() => MultistreamMessage.Write(writer, new string('a', 1024)));
        Assert.Throws<ArgumentException>(() => MultistreamMessage.Write(writer, "\ud800"));
        Assert.Equal(0, writer.WrittenCount);
    }

    [Fact]
    public void Header_MismatchIsDetectedAtTheFirstWrongByte()
    {
        Assert.Throws<ProtocolViolationException>(() => MultistreamMessage.TryMatchHeader(new ReadOnlySequence<byte>("G"u8.ToArray()), out _));
        Assert.Throws<ProtocolViolationException>(() => MultistreamMessage.TryMatchHeader(new ReadOnlySequence<byte>([0x13, (byte)'/', (byte)'x']), out _));
        Assert.False(MultistreamMessage.TryMatchHeader(new ReadOnlySequence<byte>([0x13, (byte)'/', (byte)'m']), out _));
        byte[] header = Encode("/multistream/1.0.0", "/noise");
        ReadOnlySequence<byte> split = TestPipes.Segmented(header, 5);
        Assert.True(MultistreamMessage.TryMatchHeader(split, out SequencePosition end));
        Assert.Equal(header.Length - 20, split.Slice(end).Length);
    }

    private static bool IsValidUtf16(string text)
    {
        try
        {
            _ = new UTF8Encoding(false, true).GetByteCount(text);
            return true;
        }
        catch (EncoderFallbackException)
        {
            return false;
        }
    }
}
