using System.Buffers;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using P2PNet.Muxing.Yamux;
using P2PNet.Testing.IO;

namespace P2PNet.Core.Tests.Muxing;

public class YamuxFrameCodecTests
{
    private static Gen<YamuxFrameHeader> HeaderGen { get; } =
        from type in Gen.Elements(YamuxFrameType.Data, YamuxFrameType.WindowUpdate, YamuxFrameType.Ping, YamuxFrameType.GoAway)
        from flags in ArbMap.Default.GeneratorFor<ushort>()
        from streamId in ArbMap.Default.GeneratorFor<uint>()
        from length in Gen.OneOf(ArbMap.Default.GeneratorFor<uint>(), Gen.Choose(0, 64).Select(i => (uint)i))
        select new YamuxFrameHeader(type, (YamuxFrameFlags)flags, streamId, length);

    [Property(MaxTest = 500)]
    public Property Header_RoundTrips()
    {
        return Prop.ForAll(HeaderGen.ToArbitrary(), header =>
        {
            byte[] bytes = new byte[YamuxFrameCodec.HeaderSize];
            YamuxFrameCodec.WriteHeader(bytes, header);
            var buffer = new ReadOnlySequence<byte>(bytes);
            return YamuxFrameCodec.TryReadHeader(ref buffer, out YamuxFrameHeader parsed) && parsed == header && buffer.IsEmpty;
        });
    }

    [Fact]
    public void Header_IsBigEndianWithVersionZero()
    {
        var writer = new ArrayBufferWriter<byte>();
        YamuxFrameCodec.WriteHeader(writer, new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn | YamuxFrameFlags.Fin, 0x01020304, 0x0A0B0C0D));

        Assert.Equal(new byte[] { 0, 1, 0, 5, 1, 2, 3, 4, 0x0A, 0x0B, 0x0C, 0x0D }, writer.WrittenSpan.ToArray());
    }

    [Property(MaxTest = 500)]
    public Property ArbitraryBytes_ParseToAValidHeaderOrThrowWireFormatException()
    {
        return Prop.ForAll(ArbMap.Default.ArbFor<byte[]>(), bytes =>
        {
            var buffer = new ReadOnlySequence<byte>(bytes);
            try
            {
                if (!YamuxFrameCodec.TryReadHeader(ref buffer, out YamuxFrameHeader header))
                {
                    return bytes.Length < YamuxFrameCodec.HeaderSize && buffer.Length == bytes.Length;
                }

                return bytes[0] == 0 && bytes[1] <= 3 && (byte)header.Type == bytes[1] && buffer.Length == bytes.Length - YamuxFrameCodec.HeaderSize;
            }
            catch (WireFormatException)
            {
                return bytes.Length >= YamuxFrameCodec.HeaderSize && (bytes[0] != 0 || bytes[1] > 3);
            }
        });
    }

    [Property(MaxTest = 500)]
    public Property ArbitraryHeaderBytes_WithAnyVersionOrType_ParseOrThrowWireFormatException()
    {
        // Twelve bytes exactly, with version and type concentrated near the valid range so both outcomes occur often.
        Gen<byte[]> headerBytes =
            from version in Gen.Elements<byte>(0, 0, 0, 1, 255)
            from type in Gen.Choose(0, 6).Select(i => (byte)i)
            from rest in Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>(), 10)
            select new[] { version, type }.Concat(rest).ToArray();

        return Prop.ForAll(headerBytes.ToArbitrary(), bytes =>
        {
            try
            {
                YamuxFrameHeader header = YamuxFrameCodec.ReadHeader(bytes);
                return bytes[0] == 0 && bytes[1] <= 3 && header.Type == (YamuxFrameType)bytes[1];
            }
            catch (WireFormatException)
            {
                return bytes[0] != 0 || bytes[1] > 3;
            }
        });
    }

    [Fact]
    public void UnknownVersion_IsRejected()
    {
        byte[] bytes = [1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        var buffer = new ReadOnlySequence<byte>(bytes);
        Assert.Throws<WireFormatException>(() => YamuxFrameCodec.TryReadHeader(ref buffer, out _));
    }

    [Fact]
    public void UnknownType_IsRejected()
    {
        byte[] bytes = [0, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        var buffer = new ReadOnlySequence<byte>(bytes);
        Assert.Throws<WireFormatException>(() => YamuxFrameCodec.TryReadHeader(ref buffer, out _));
    }

    [Property(MaxTest = 100)]
    public Property FrameStream_SplitAtEveryOffset_ParsesTheSameFrames()
    {
        Gen<(YamuxFrameHeader, byte[])[]> framesGen =
            from count in Gen.Choose(1, 5)
            from frames in Gen.ArrayOf(
                from header in HeaderGen
                from payloadLength in Gen.Choose(0, 20)
                from payload in Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>(), payloadLength)
                select header.Type == YamuxFrameType.Data
                    ? (header with { Length = (uint)payload.Length }, payload)
                    : (header, Array.Empty<byte>()),
                count)
            select frames;

        return Prop.ForAll(framesGen.ToArbitrary(), frames =>
        {
            byte[] wire = Encode(frames);
            for (int first = 0; first <= wire.Length; first++)
            {
                for (int second = first; second <= wire.Length; second += Math.Max(1, wire.Length / 7))
                {
                    ReadOnlySequence<byte> split = TestSequence.Create(wire, first, second);
                    List<(YamuxFrameHeader, byte[])> parsed = ParseAll(split);
                    if (parsed.Count != frames.Length)
                    {
                        return false;
                    }

                    for (int i = 0; i < frames.Length; i++)
                    {
                        if (parsed[i].Item1 != frames[i].Item1 || !parsed[i].Item2.AsSpan().SequenceEqual(frames[i].Item2))
                        {
                            return false;
                        }
                    }
                }
            }

            return true;
        });
    }

    [Fact]
    public void IncompleteHeader_ConsumesNothing()
    {
        byte[] wire = Encode([(new YamuxFrameHeader(YamuxFrameType.Ping, YamuxFrameFlags.Syn, 0, 7), [])]);
        for (int length = 0; length < YamuxFrameCodec.HeaderSize; length++)
        {
            var buffer = new ReadOnlySequence<byte>(wire, 0, length);
            Assert.False(YamuxFrameCodec.TryReadHeader(ref buffer, out _));
            Assert.Equal(length, buffer.Length);
        }
    }

    private static byte[] Encode((YamuxFrameHeader Header, byte[] Payload)[] frames)
    {
        var writer = new ArrayBufferWriter<byte>();
        foreach ((YamuxFrameHeader header, byte[] payload) in frames)
        {
            YamuxFrameCodec.WriteHeader(writer, header);
            writer.Write(payload);
        }

        return writer.WrittenSpan.ToArray();
    }

    private static List<(YamuxFrameHeader, byte[])> ParseAll(ReadOnlySequence<byte> buffer)
    {
        var frames = new List<(YamuxFrameHeader, byte[])>();
        while (YamuxFrameCodec.TryReadHeader(ref buffer, out YamuxFrameHeader header))
        {
            int payloadLength = header.Type == YamuxFrameType.Data ? (int)header.Length : 0;
            frames.Add((header, buffer.Slice(0, payloadLength).ToArray()));
            buffer = buffer.Slice(payloadLength);
        }

        return buffer.IsEmpty ? frames : [];
    }
}

/// <summary>Builds multi-segment sequences to exercise parsing across segment boundaries.</summary>
internal static class TestSequence
{
    /// <summary>Splits <paramref name="data"/> into three segments at <paramref name="first"/> and <paramref name="second"/>.</summary>
    public static ReadOnlySequence<byte> Create(byte[] data, int first, int second)
    {
        return SequenceSegments.FromMemory(data.AsMemory(0, first), data.AsMemory(first, second - first), data.AsMemory(second));
    }
}
