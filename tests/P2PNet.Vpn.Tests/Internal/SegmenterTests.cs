using System.Buffers.Binary;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using P2PNet.Vpn.Internal;

namespace P2PNet.Vpn.Tests;

public class SegmenterTests
{
    private static Gen<byte[]> Payload(int max) =>
        Gen.Choose(0, max).SelectMany(n => Gen.ArrayOf(Gen.Choose(0, 255).Select(b => (byte)b), n));

    private static byte[] PayloadOf(byte[] packet, int headers) => packet.AsSpan(headers).ToArray();

    [Property(MaxTest = 100)]
    public Property TcpSuperPacket_SegmentsReassembleToThePayload_WithEveryHeaderAndChecksumRight()
    {
        var gen =
            from ipOptions in Gen.Choose(0, 2)
            from tcpOptions in Gen.Choose(0, 3)
            from payload in Payload(65535 - 40 - 20)
            from mss in Gen.Choose(Math.Max(1, (payload.Length + 1023) / 1024), 1500)
            from flags in Gen.Choose(0, 255)
            from id in Gen.Choose(0, 65535)
            from sequence in Gen.Choose(int.MinValue, int.MaxValue)
            from df in Gen.Elements(true, false)
            select (ipOptions, tcpOptions, payload, mss, flags, id, sequence, df);
        return Prop.ForAll(Arb.From(gen), c =>
        {
            var (packet, offload) = SuperPackets.Tcp(c.payload, (ushort)c.mss, (byte)c.flags, (ushort)c.id, unchecked((uint)c.sequence),
                c.df, c.ipOptions, c.tcpOptions);
            Assert.True(offload.IsValidFor(packet));
            int ipHeader = 20 + 4 * c.ipOptions, headers = ipHeader + 20 + 4 * c.tcpOptions;
            var segments = SuperPackets.Segment(packet, offload);
            Assert.Equal(Math.Max(1, (c.payload.Length + c.mss - 1) / c.mss), segments.Count);
            for (int i = 0; i < segments.Count; i++)
            {
                var s = segments[i];
                Assert.True(SuperPackets.ChecksumsVerify(s), $"checksums of segment {i}");
                Assert.Equal(s.Length, BinaryPrimitives.ReadUInt16BigEndian(s.AsSpan(2)));
                Assert.Equal((ushort)(c.id + i), BinaryPrimitives.ReadUInt16BigEndian(s.AsSpan(4)));
                Assert.Equal(packet.AsSpan(6, 4).ToArray(), s.AsSpan(6, 4).ToArray()); // DF, no fragment offset, TTL, protocol
                Assert.Equal(packet.AsSpan(12, ipHeader - 12).ToArray(), s.AsSpan(12, ipHeader - 12).ToArray()); // addresses, options
                Assert.Equal(unchecked((uint)c.sequence + (uint)(i * c.mss)), BinaryPrimitives.ReadUInt32BigEndian(s.AsSpan(ipHeader + 4)));
                byte expectedFlags = (byte)c.flags;
                if (i != segments.Count - 1)
                {
                    expectedFlags &= 0xF6; // FIN and PSH only on the last
                }
                if (i != 0)
                {
                    expectedFlags &= 0x7F; // CWR only on the first
                }
                Assert.Equal(expectedFlags, s[ipHeader + 13]);
                Assert.Equal(packet.AsSpan(ipHeader, 4).ToArray(), s.AsSpan(ipHeader, 4).ToArray()); // ports
                Assert.Equal(packet.AsSpan(ipHeader + 8, 5).ToArray(), s.AsSpan(ipHeader + 8, 5).ToArray()); // ack, data offset
                Assert.Equal(packet.AsSpan(ipHeader + 14, 2).ToArray(), s.AsSpan(ipHeader + 14, 2).ToArray()); // window
                Assert.Equal(packet.AsSpan(ipHeader + 18, headers - ipHeader - 18).ToArray(), s.AsSpan(ipHeader + 18, headers - ipHeader - 18).ToArray()); // urgent, options
                Assert.True(s.Length - headers <= c.mss);
                if (i < segments.Count - 1)
                {
                    Assert.Equal(c.mss, s.Length - headers);
                }
            }
            Assert.Equal(c.payload, segments.SelectMany(s => PayloadOf(s, headers)).ToArray());
        });
    }

    [Property(MaxTest = 100)]
    public Property UdpSuperPacket_SegmentsAreDatagramsOfTheSegmentSize_WithEveryChecksumRight()
    {
        var gen =
            from ipOptions in Gen.Choose(0, 2)
            from payload in Payload(65535 - 28 - 8)
            from size in Gen.Choose(Math.Max(1, (payload.Length + 1023) / 1024), 1472)
            from id in Gen.Choose(0, 65535)
            select (ipOptions, payload, size, id);
        return Prop.ForAll(Arb.From(gen), c =>
        {
            var (packet, offload) = SuperPackets.Udp(c.payload, (ushort)c.size, (ushort)c.id, c.ipOptions);
            Assert.True(offload.IsValidFor(packet));
            int ipHeader = 20 + 4 * c.ipOptions;
            var segments = SuperPackets.Segment(packet, offload);
            Assert.Equal(Math.Max(1, (c.payload.Length + c.size - 1) / c.size), segments.Count);
            for (int i = 0; i < segments.Count; i++)
            {
                var s = segments[i];
                Assert.True(SuperPackets.ChecksumsVerify(s), $"checksums of datagram {i}");
                Assert.Equal(s.Length, BinaryPrimitives.ReadUInt16BigEndian(s.AsSpan(2)));
                Assert.Equal(s.Length - ipHeader, BinaryPrimitives.ReadUInt16BigEndian(s.AsSpan(ipHeader + 4)));
                Assert.Equal((ushort)(c.id + i), BinaryPrimitives.ReadUInt16BigEndian(s.AsSpan(4)));
                Assert.Equal(packet.AsSpan(ipHeader, 4).ToArray(), s.AsSpan(ipHeader, 4).ToArray()); // ports
            }
            Assert.Equal(c.payload, segments.SelectMany(s => PayloadOf(s, ipHeader + 8)).ToArray());
        });
    }

    [Property(MaxTest = 100)]
    public Property PartialChecksum_WithoutSegmentation_IsCompletedInPlace()
    {
        return Prop.ForAll(Arb.From(Payload(3000).Zip(Gen.Elements(true, false))), c =>
        {
            var (packet, offload) = c.Item2 ? SuperPackets.Tcp(c.Item1, 0) : SuperPackets.Udp(c.Item1, 0);
            Assert.True(offload.IsValidFor(packet));
            var segments = SuperPackets.Segment(packet, offload);
            Assert.Single(segments);
            Assert.True(SuperPackets.ChecksumsVerify(segments[0]));
            Assert.Equal(packet.Length, segments[0].Length);
        });
    }

    [Property(MaxTest = 100)]
    public Property Sum_MatchesTheWordByWordSum_AtEveryLengthAndAlignment()
    {
        return Prop.ForAll(Arb.From(Payload(300).Zip(Gen.Choose(0, 7))), c =>
        {
            var data = c.Item1.AsSpan(Math.Min(c.Item2, c.Item1.Length));
            // One's complement has two zeros (0x0000 and 0xFFFF): equal modulo 0xFFFF.
            return SuperPackets.Fold(Segmenter.Sum(data)) % 0xFFFF == SuperPackets.Fold(SuperPackets.SumWords(data)) % 0xFFFF;
        });
    }

    [Fact]
    public void Offload_ThatDoesNotFitThePacket_IsRejected()
    {
        var (packet, tso) = SuperPackets.Tcp(new byte[4000], 1000);
        Assert.True(tso.IsValidFor(packet));
        Assert.False((tso with { ChecksumStart = 19 }).IsValidFor(packet));                        // inside the IP header
        Assert.False((tso with { ChecksumStart = 24 }).IsValidFor(packet));                        // TSO: must be the TCP header
        Assert.False((tso with { ChecksumOffset = 6 }).IsValidFor(packet));                        // not TCP's checksum field
        Assert.False((tso with { Segmentation = SegmentationKind.Udp }).IsValidFor(packet));       // the packet is TCP
        Assert.False((tso with { Segmentation = SegmentationKind.TcpV6 }).IsValidFor(packet));     // not IPv4
        Assert.False((tso with { SegmentSize = 0 }).IsValidFor(packet));
        Assert.False((tso with { SegmentSize = 3 }).IsValidFor(packet));                           // 1334 segments > MaxSegments
        Assert.False((tso with { ChecksumPartial = false }).IsValidFor(packet));
        Assert.False((tso with { Segmentation = SegmentationKind.None, ChecksumStart = (ushort)(packet.Length - 1) }).IsValidFor(packet));

        var fragment = (byte[])packet.Clone();
        fragment[6] |= 0x20; // more fragments
        Assert.False(tso.IsValidFor(fragment));
        var shortLength = (byte[])packet.Clone();
        BinaryPrimitives.WriteUInt16BigEndian(shortLength.AsSpan(2), (ushort)(packet.Length - 1));
        Assert.False(tso.IsValidFor(shortLength));
        var badDataOffset = (byte[])packet.Clone();
        badDataOffset[20 + 12] = 0x40; // 16-byte TCP header
        Assert.False(tso.IsValidFor(badDataOffset));
        Assert.False(tso.IsValidFor(packet.AsSpan(0, 30)));
        Assert.True(default(PacketOffload).IsValidFor(packet.AsSpan(0, 30)));
    }

    [Fact]
    public void VirtioHeader_RoundTrips_AndRefusesWhatIsNeverEnabled()
    {
        var (packet, tso) = SuperPackets.Tcp(new byte[4000], 1380, ipOptionWords: 1, tcpOptionWords: 3);
        var header = new byte[PacketOffload.VirtioHeaderSize];
        tso.WriteVirtioHeader(packet, header);
        Assert.Equal(1, header[0]);   // NEEDS_CSUM
        Assert.Equal(1, header[1]);   // GSO_TCPV4
        Assert.Equal(24 + 32, BitConverter.ToUInt16(header, 2)); // hdr_len
        Assert.True(PacketOffload.TryReadVirtioHeader(header, out var read));
        Assert.Equal(tso, read);

        default(PacketOffload).WriteVirtioHeader(packet, header);
        Assert.All(header, b => Assert.Equal(0, b));
        header[0] = 2; // DATA_VALID only: a complete packet
        Assert.True(PacketOffload.TryReadVirtioHeader(header, out read));
        Assert.True(read.IsComplete);
        header[0] = 1;
        header[1] = 0x81; // TCPv4 with ECN: never enabled
        Assert.False(PacketOffload.TryReadVirtioHeader(header, out _));
        header[1] = 3;    // UFO: never enabled
        Assert.False(PacketOffload.TryReadVirtioHeader(header, out _));
        header[0] = 0;
        header[1] = 1;    // segmentation without a partial checksum
        Assert.False(PacketOffload.TryReadVirtioHeader(header, out _));
    }
}
