using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace P2PNet.Vpn.Internal;

/// <summary>
/// Software segmentation and checksum offload, for receivers that cannot take a super-packet as it is (a user-space
/// device, a TUN device without <c>IFF_VNET_HDR</c>, a peer on <c>/p2pnet/vpn/ip/1.0.0</c>). Does what the kernel's
/// <c>tcp_gso_segment</c> / <c>__udp_gso_segment</c> / <c>inet_gso_segment</c> and <c>skb_checksum_help</c> do for IPv4:
/// every segment gets the headers with the IPv4 total length, an incremented identification and a fresh header checksum
/// (RFC 791 §3.1); TCP segments advance the sequence number, keep FIN and PSH for the last segment and CWR for the first
/// (RFC 9293 §3.1, RFC 3168 §6.1.2); UDP segments get their own length (RFC 768); transport checksums are computed in full.
/// Pure: reads a span, writes a span, no allocation. Callers check <see cref="PacketOffload.IsValidFor(ReadOnlySpan{byte})"/> first.
/// </summary>
internal static class Segmenter
{
    /// <summary>How many packets <paramref name="packet"/> becomes.</summary>
    public static int SegmentCount(ReadOnlySpan<byte> packet, in PacketOffload offload)
    {
        if (offload.Segmentation == SegmentationKind.None)
        {
            return 1;
        }
        int payload = packet.Length - offload.HeadersLength(packet);
        return Math.Max(1, (payload + offload.SegmentSize - 1) / offload.SegmentSize);
    }

    /// <summary>The largest segment <paramref name="packet"/> produces, in bytes.</summary>
    public static int MaxSegmentLength(ReadOnlySpan<byte> packet, in PacketOffload offload) =>
        offload.Segmentation == SegmentationKind.None ? packet.Length
            : Math.Min(packet.Length, offload.HeadersLength(packet) + offload.SegmentSize);

    /// <summary>Writes segment <paramref name="index"/> (0-based, below <see cref="SegmentCount"/>) of <paramref name="packet"/>
    /// as a complete packet into <paramref name="destination"/>; returns its length.</summary>
    public static int WriteSegment(ReadOnlySpan<byte> packet, in PacketOffload offload, int index, Span<byte> destination)
    {
        if (offload.Segmentation == SegmentationKind.None)
        {
            packet.CopyTo(destination);
            var copy = destination[..packet.Length];
            if (offload.ChecksumPartial)
            {
                CompletePartialChecksum(copy, offload.ChecksumStart, offload.ChecksumOffset);
            }
            return packet.Length;
        }
        int ipHeader = (packet[0] & 0xF) * 4;
        int headers = offload.HeadersLength(packet);
        int mss = offload.SegmentSize;
        int count = SegmentCount(packet, offload);
        int start = headers + index * mss;
        int length = Math.Min(mss, packet.Length - start);
        int total = headers + length;
        var segment = destination[..total];
        packet[..headers].CopyTo(segment);
        packet.Slice(start, length).CopyTo(segment[headers..]);

        // IPv4: total length, identification (ip_id + index, as inet_gso_segment does), header checksum.
        BinaryPrimitives.WriteUInt16BigEndian(segment[2..], (ushort)total);
        BinaryPrimitives.WriteUInt16BigEndian(segment[4..], (ushort)(BinaryPrimitives.ReadUInt16BigEndian(packet[4..]) + index));
        segment[10] = segment[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(segment[10..], Finish(Sum(segment[..ipHeader])));

        var transport = segment[ipHeader..];
        int checksumAt;
        if (offload.Segmentation == SegmentationKind.TcpV4)
        {
            uint sequence = BinaryPrimitives.ReadUInt32BigEndian(packet[(ipHeader + 4)..]);
            BinaryPrimitives.WriteUInt32BigEndian(transport[4..], unchecked(sequence + (uint)(index * mss)));
            byte flags = transport[13];
            if (index != count - 1)
            {
                flags &= unchecked((byte)~0x09); // FIN, PSH: only on the last segment
            }
            if (index != 0)
            {
                flags &= unchecked((byte)~0x80); // CWR: only on the first
            }
            transport[13] = flags;
            checksumAt = 16;
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(transport[4..], (ushort)transport.Length);
            checksumAt = 6;
        }
        transport[checksumAt] = transport[checksumAt + 1] = 0;
        ulong sum = PseudoHeaderSum(segment, segment[9], transport.Length) + Sum(transport);
        ushort checksum = Finish(sum);
        if (checksum == 0 && offload.Segmentation == SegmentationKind.Udp)
        {
            checksum = 0xFFFF; // RFC 768: a computed zero is sent as all ones
        }
        BinaryPrimitives.WriteUInt16BigEndian(transport[checksumAt..], checksum);
        return total;
    }

    /// <summary>Completes a <c>CHECKSUM_PARTIAL</c> checksum in place: the field holds the pseudo-header sum; the sum over
    /// everything from <paramref name="start"/> to the end goes in, complemented (as <c>skb_checksum_help</c>).</summary>
    public static void CompletePartialChecksum(Span<byte> packet, int start, int offset)
    {
        ushort checksum = Finish(Sum(packet[start..]));
        BinaryPrimitives.WriteUInt16BigEndian(packet[(start + offset)..], checksum == 0 ? (ushort)0xFFFF : checksum);
    }

    /// <summary>The one's-complement sum of the IPv4 pseudo-header (RFC 9293 §3.1, RFC 768), unfolded.</summary>
    public static ulong PseudoHeaderSum(ReadOnlySpan<byte> ipv4Packet, byte protocol, int transportLength) =>
        Sum(ipv4Packet.Slice(12, 8)) + protocol + (uint)transportLength;

    /// <summary>The one's-complement sum of big-endian 16-bit words (RFC 1071), unfolded; an odd last byte is padded with zero.</summary>
    public static ulong Sum(ReadOnlySpan<byte> data)
    {
        // RFC 1071 §2(B): the sum is byte-order independent, so add native 32-bit words and swap once at the end.
        ulong sum = 0;
        var words = MemoryMarshal.Cast<byte, uint>(data);
        foreach (uint word in words)
        {
            sum += word;
        }
        int done = words.Length * 4;
        ulong native = Fold(sum);
        ulong result = BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness((ushort)native) : native;
        for (int i = done; i + 1 < data.Length; i += 2)
        {
            result += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
        }
        if ((data.Length & 1) != 0)
        {
            result += (uint)data[^1] << 8;
        }
        return result;
    }

    /// <summary>Folds an unfolded sum to 16 bits and complements it: the value a checksum field holds.</summary>
    public static ushort Finish(ulong sum) => (ushort)~Fold(sum);

    private static ushort Fold(ulong sum)
    {
        while (sum >> 16 != 0)
        {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        return (ushort)sum;
    }
}
