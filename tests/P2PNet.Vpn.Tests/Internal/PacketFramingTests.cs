using System.Buffers;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using P2PNet.Testing.IO;
using P2PNet.Vpn.Internal;

namespace P2PNet.Vpn.Tests;

public class PacketFramingTests
{
    private static byte[] Frame(IEnumerable<byte[]> packets)
    {
        var writer = new ArrayBufferWriter<byte>();
        foreach (var p in packets)
        {
            PacketFraming.Write(writer, p);
        }
        return writer.WrittenSpan.ToArray();
    }

    private static List<byte[]> ParseAll(ReadOnlySequence<byte> buffer, out long left)
    {
        var result = new List<byte[]>();
        while (PacketFraming.TryRead(ref buffer, out var packet))
        {
            result.Add(packet.ToArray());
        }
        left = buffer.Length;
        return result;
    }

    [Fact]
    public void Write_PrefixesBigEndianLength()
    {
        Assert.Equal(new byte[] { 0x01, 0x02 }, Frame([new byte[0x102]]).AsSpan(0, 2).ToArray());
    }

    [Fact]
    public void TryRead_WithPartialFrame_NeedsMoreBytes()
    {
        var bytes = Frame([new byte[10]]);
        for (int n = 0; n < bytes.Length; n++)
        {
            var buffer = new ReadOnlySequence<byte>(bytes, 0, n);
            Assert.False(PacketFraming.TryRead(ref buffer, out _));
            Assert.Equal(n, buffer.Length);
        }
    }

    [Property(MaxTest = 100)]
    public Property Frames_SplitAtEveryOffset_ParseTheSame()
    {
        var gen = Gen.ListOf(Gen.ArrayOf(Gen.Choose(0, 255).Select(i => (byte)i))).Select(l => l.Take(6).ToList());
        return Prop.ForAll(Arb.From(gen), (List<byte[]> packets) =>
        {
            byte[] bytes = Frame(packets);
            for (int split = 0; split <= bytes.Length; split++)
            {
                var sequence = SequenceSegments.FromMemory(bytes.AsMemory(0, split), bytes.AsMemory(split));
                var parsed = ParseAll(sequence, out long left);
                if (left != 0 || parsed.Count != packets.Count || !parsed.Zip(packets).All(p => p.First.AsSpan().SequenceEqual(p.Second)))
                {
                    return false;
                }
            }
            // One byte at a time, as a stream delivering byte by byte would.
            var many = SequenceSegments.FromMemory(bytes.Select(b => (ReadOnlyMemory<byte>)new[] { b }).ToArray());
            var all = ParseAll(many, out long rest);
            return rest == 0 && all.Count == packets.Count;
        });
    }

    [Fact]
    public void Write_WithOversizedPacket_Throws()
    {
        Assert.Throws<ArgumentException>(() => PacketFraming.Write(new ArrayBufferWriter<byte>(), new byte[70_000]));
    }
}
