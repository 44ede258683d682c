using System.Buffers.Binary;
using FsCheck;
using FsCheck.Xunit;
using P2PNet.Vpn.Internal;

namespace P2PNet.Vpn.Tests;

/// <summary><see cref="PacketOffload.IsValidFor(ReadOnlySpan{byte})"/> against random offload descriptions: what passes
/// must be consistent with the packet, judged independently (checksum field inside the transport part; segmentation
/// only of unfragmented TCP/UDP, producing segments whose lengths and checksums verify).</summary>
public class PacketOffloadPropertyTests
{
    private static readonly SegmentationKind[] Kinds = [SegmentationKind.None, SegmentationKind.TcpV4, SegmentationKind.TcpV6, SegmentationKind.Udp];

    [Property(MaxTest = 2000)]
    public bool RandomOffload_OnARealPacket_PassesOnlyWhenConsistent(bool udp, NonNegativeInt payloadLength, bool partial,
        ushort start, ushort offset, NonNegativeInt kind, ushort segmentSize, NonNegativeInt perturb)
    {
        var payload = new byte[payloadLength.Get % 3000];
        Random.Shared.NextBytes(payload);
        var (packet, truth) = udp ? SuperPackets.Udp(payload, 100) : SuperPackets.Tcp(payload, 100);
        // Mostly near the truth (one field changed), sometimes entirely random, so both outcomes are exercised.
        var offload = (perturb.Get % 7) switch
        {
            0 => truth,
            1 => truth with { ChecksumStart = start },
            2 => truth with { ChecksumOffset = offset },
            3 => truth with { Segmentation = Kinds[kind.Get % Kinds.Length] },
            4 => truth with { SegmentSize = segmentSize },
            5 => truth with { ChecksumPartial = partial },
            _ => new PacketOffload(partial, start, offset, Kinds[kind.Get % Kinds.Length], segmentSize),
        };
        bool valid = offload.IsValidFor(packet);
        if (offload == truth)
        {
            return valid; // a well-formed description always passes
        }
        return !valid || IsConsistent(packet, offload);
    }

    [Property(MaxTest = 2000)]
    public bool RandomOffload_OnArbitraryBytes_PassesOnlyWhenConsistent(byte[] bytes, bool partial, ushort start, ushort offset,
        NonNegativeInt kind, ushort segmentSize)
    {
        if (bytes.Length >= 20)
        {
            // Give some of them an IPv4 shape so the checks past the first are reached.
            bytes[0] = (byte)(0x40 | Math.Max(5, bytes[0] & 0xF));
            BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(2), (ushort)bytes.Length);
        }
        var offload = new PacketOffload(partial, start, offset, Kinds[kind.Get % Kinds.Length], segmentSize);
        return !offload.IsValidFor(bytes) || IsConsistent(bytes, offload);
    }

    /// <summary>The independent judgement: what a kernel or <see cref="Segmenter"/> may safely be given.</summary>
    private static bool IsConsistent(byte[] packet, PacketOffload offload)
    {
        if (offload.IsComplete)
        {
            return true;
        }
        if (!offload.ChecksumPartial || packet.Length < 20 || packet[0] >> 4 != 4)
        {
            return false;
        }
        int ipHeader = (packet[0] & 0xF) * 4;
        if (offload.ChecksumStart < ipHeader || offload.ChecksumStart + offload.ChecksumOffset + 2 > packet.Length)
        {
            return false; // the checksum field must lie inside the transport part
        }
        if (offload.Segmentation == SegmentationKind.None)
        {
            return true;
        }
        bool tcp = offload.Segmentation == SegmentationKind.TcpV4 && packet[9] == 6 && offload.ChecksumOffset == 16;
        bool udp = offload.Segmentation == SegmentationKind.Udp && packet[9] == 17 && offload.ChecksumOffset == 6;
        if (!(tcp || udp) || offload.SegmentSize == 0 || offload.ChecksumStart != ipHeader
            || BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(2)) != packet.Length
            || (BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(6)) & 0x3FFF) != 0)
        {
            return false;
        }
        // Segmentable: at most MaxSegments segments, each a finished packet of the right length.
        int count = Segmenter.SegmentCount(packet, offload);
        if (count is < 1 or > PacketOffload.MaxSegments)
        {
            return false;
        }
        var segments = SuperPackets.Segment(packet, offload);
        return segments.All(s => BinaryPrimitives.ReadUInt16BigEndian(s.AsSpan(2)) == s.Length && s.Length <= packet.Length
            && s.Length - offload.HeadersLength(packet) <= offload.SegmentSize);
    }
}
