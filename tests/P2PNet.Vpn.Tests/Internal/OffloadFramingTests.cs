using System.Buffers;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using P2PNet.Testing.IO;
using P2PNet.Vpn.Internal;

namespace P2PNet.Vpn.Tests;

public class OffloadFramingTests
{
    private static readonly Gen<PacketOffload> Offloads = Gen.OneOf(
        Gen.Constant(default(PacketOffload)),
        from start in Gen.Choose(0, 65535)
        from offset in Gen.Choose(0, 65535)
        select new PacketOffload(true, (ushort)start, (ushort)offset, SegmentationKind.None, 0),
        from start in Gen.Choose(0, 65535)
        from offset in Gen.Choose(0, 65535)
        from kind in Gen.Elements(SegmentationKind.TcpV4, SegmentationKind.TcpV6, SegmentationKind.Udp)
        from size in Gen.Choose(0, 65535)
        select new PacketOffload(true, (ushort)start, (ushort)offset, kind, (ushort)size));

    private static readonly Gen<List<(byte[] Packet, PacketOffload Offload)>> Frames =
        Gen.ListOf(Gen.ArrayOf(Gen.Choose(0, 255).Select(i => (byte)i)).Zip(Offloads)).Select(l => l.Take(6).ToList());

    private static byte[] Frame(IEnumerable<(byte[] Packet, PacketOffload Offload)> frames)
    {
        var writer = new ArrayBufferWriter<byte>();
        foreach (var (packet, offload) in frames)
        {
            OffloadFraming.Write(writer, packet, offload);
        }
        return writer.WrittenSpan.ToArray();
    }

    private static List<(byte[] Packet, PacketOffload Offload)> ParseAll(ReadOnlySequence<byte> buffer, out long left)
    {
        var result = new List<(byte[], PacketOffload)>();
        while (OffloadFraming.TryRead(ref buffer, out var packet, out var offload))
        {
            result.Add((packet.ToArray(), offload));
        }
        left = buffer.Length;
        return result;
    }

    [Property(MaxTest = 100)]
    public Property Frames_SplitAtEveryOffset_ParseTheSame()
    {
        return Prop.ForAll(Arb.From(Frames), frames =>
        {
            byte[] bytes = Frame(frames);
            for (int split = 0; split <= bytes.Length; split++)
            {
                var parsed = ParseAll(SequenceSegments.FromMemory(bytes.AsMemory(0, split), bytes.AsMemory(split)), out long left);
                if (left != 0 || parsed.Count != frames.Count
                    || !parsed.Zip(frames).All(p => p.First.Packet.AsSpan().SequenceEqual(p.Second.Packet) && p.First.Offload == p.Second.Offload))
                {
                    return false;
                }
            }
            var oneByteEach = SequenceSegments.FromMemory(bytes.Select(b => (ReadOnlyMemory<byte>)new[] { b }).ToArray());
            return ParseAll(oneByteEach, out long rest).Count == frames.Count && rest == 0;
        });
    }

    [Fact]
    public void TryRead_WithPartialFrame_NeedsMoreBytes()
    {
        var bytes = Frame([(new byte[10], new PacketOffload(true, 20, 16, SegmentationKind.TcpV4, 1380))]);
        Assert.Equal(10 + 10, bytes.Length);
        for (int n = 0; n < bytes.Length; n++)
        {
            var buffer = new ReadOnlySequence<byte>(bytes, 0, n);
            Assert.False(OffloadFraming.TryRead(ref buffer, out _, out _));
            Assert.Equal(n, buffer.Length);
        }
    }

    [Property(MaxTest = 100)]
    public Property ArbitraryBytes_ParseOrThrowOnlyWireFormatException()
    {
        return Prop.ForAll(Arb.From(Gen.ArrayOf(Gen.Choose(0, 255).Select(i => (byte)i))), bytes =>
        {
            var buffer = new ReadOnlySequence<byte>(bytes);
            try
            {
                while (OffloadFraming.TryRead(ref buffer, out var packet, out _))
                {
                    Assert.True(packet.Length <= OffloadFraming.MaxPacketSize);
                }
            }
            catch (WireFormatException)
            {
            }
        });
    }

    [Theory]
    [InlineData(new byte[] { 0, 1, 0x04, 0 })]                            // reserved flag
    [InlineData(new byte[] { 0, 1, 0x02, 0, 0, 0, 0 })]                   // segmentation without a partial checksum
    [InlineData(new byte[] { 0, 1, 0x03, 0, 20, 0, 16, 3, 5, 0, 0xAA })]  // UFO (type 3) is not a segmentation this protocol knows
    public void MalformedFrameHeader_IsAWireFormatError(byte[] bytes)
    {
        var buffer = new ReadOnlySequence<byte>(bytes);
        Assert.Throws<WireFormatException>(() => OffloadFraming.TryRead(ref buffer, out _, out _));
    }

    [Fact]
    public void Write_WithOversizedPacket_Throws()
    {
        Assert.Throws<ArgumentException>(() => OffloadFraming.Write(new ArrayBufferWriter<byte>(), new byte[70_000], default));
    }
}
