using System.Buffers.Binary;
using System.Net;
using P2PNet.Vpn.Internal;

namespace P2PNet.Vpn.Tests;

/// <summary>TSO/USO super-packets as a Linux kernel hands them to an IFF_VNET_HDR TUN device (CHECKSUM_PARTIAL: the
/// transport checksum field holds the folded pseudo-header sum), and an independent checksum check.</summary>
internal static class SuperPackets
{
    public static readonly IPAddress Source = IPAddress.Parse("10.50.0.2");
    public static readonly IPAddress Destination = IPAddress.Parse("10.50.0.1");

    /// <summary>A TCP/IPv4 super-packet and the offload that describes it.</summary>
    public static (byte[] Packet, PacketOffload Offload) Tcp(ReadOnlySpan<byte> payload, ushort mss, byte flags = 0x18, ushort id = 7,
        uint sequence = 1000, bool dontFragment = true, int ipOptionWords = 0, int tcpOptionWords = 0, IPAddress? source = null, IPAddress? destination = null)
    {
        int ipHeader = 20 + ipOptionWords * 4, tcpHeader = 20 + tcpOptionWords * 4;
        var packet = new byte[ipHeader + tcpHeader + payload.Length];
        WriteIp(packet, ipHeader, 6, id, dontFragment, source, destination);
        var tcp = packet.AsSpan(ipHeader);
        BinaryPrimitives.WriteUInt16BigEndian(tcp, 40000);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], 5201);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], sequence);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], 0xA5A5A5A5);
        tcp[12] = (byte)((tcpHeader / 4) << 4);
        tcp[13] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], 501);
        for (int i = 20; i < tcpHeader; i++)
        {
            tcp[i] = 1; // NOP options
        }
        payload.CopyTo(tcp[tcpHeader..]);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], PartialChecksum(packet, 6, tcp.Length));
        var kind = mss == 0 ? SegmentationKind.None : SegmentationKind.TcpV4;
        return (packet, new PacketOffload(true, (ushort)ipHeader, 16, kind, mss));
    }

    /// <summary>A UDP/IPv4 super-packet (UDP_SEGMENT) and its offload.</summary>
    public static (byte[] Packet, PacketOffload Offload) Udp(ReadOnlySpan<byte> payload, ushort segmentSize, ushort id = 9, int ipOptionWords = 0,
        IPAddress? source = null, IPAddress? destination = null, ushort sourcePort = 4000, ushort destinationPort = 53)
    {
        int ipHeader = 20 + ipOptionWords * 4;
        var packet = new byte[ipHeader + 8 + payload.Length];
        WriteIp(packet, ipHeader, 17, id, dontFragment: false, source, destination);
        var udp = packet.AsSpan(ipHeader);
        BinaryPrimitives.WriteUInt16BigEndian(udp, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], destinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)udp.Length);
        payload.CopyTo(udp[8..]);
        BinaryPrimitives.WriteUInt16BigEndian(udp[6..], PartialChecksum(packet, 17, udp.Length));
        var kind = segmentSize == 0 ? SegmentationKind.None : SegmentationKind.Udp;
        return (packet, new PacketOffload(true, (ushort)ipHeader, 6, kind, segmentSize));
    }

    private static void WriteIp(byte[] packet, int ipHeader, byte protocol, ushort id, bool dontFragment, IPAddress? source, IPAddress? destination)
    {
        packet[0] = (byte)(0x40 | (ipHeader / 4));
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(2), (ushort)packet.Length);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(4), id);
        packet[6] = dontFragment ? (byte)0x40 : (byte)0;
        packet[8] = 64;
        packet[9] = protocol;
        (source ?? Source).GetAddressBytes().CopyTo(packet, 12);
        (destination ?? Destination).GetAddressBytes().CopyTo(packet, 16);
        for (int i = 20; i < ipHeader; i++)
        {
            packet[i] = 1; // NOP options
        }
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(10), (ushort)~Fold(SumWords(packet.AsSpan(0, ipHeader))));
    }

    private static ushort PartialChecksum(byte[] packet, byte protocol, int transportLength) =>
        Fold(SumWords(packet.AsSpan(12, 8)) + protocol + (uint)transportLength);

    /// <summary>Whether the IPv4 header checksum and the TCP/UDP checksum of a finished packet verify (RFC 1071: the sum
    /// over everything, checksum included, is all ones).</summary>
    public static bool ChecksumsVerify(ReadOnlySpan<byte> packet)
    {
        int ipHeader = (packet[0] & 0xF) * 4;
        if (Fold(SumWords(packet[..ipHeader])) != 0xFFFF)
        {
            return false;
        }
        var transport = packet[ipHeader..];
        if (packet[9] == 17 && BinaryPrimitives.ReadUInt16BigEndian(transport[6..]) == 0)
        {
            return false; // we always compute one
        }
        ulong pseudo = SumWords(packet.Slice(12, 8)) + packet[9] + (uint)transport.Length;
        return Fold(pseudo + SumWords(transport)) == 0xFFFF;
    }

    /// <summary>The obvious RFC 1071 sum, word by word, to check the optimised one against.</summary>
    public static ulong SumWords(ReadOnlySpan<byte> data)
    {
        ulong sum = 0;
        for (int i = 0; i < data.Length; i += 2)
        {
            sum += i + 1 < data.Length ? BinaryPrimitives.ReadUInt16BigEndian(data[i..]) : (uint)data[i] << 8;
        }
        return sum;
    }

    public static ushort Fold(ulong sum)
    {
        while (sum > 0xFFFF)
        {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        return (ushort)sum;
    }

    /// <summary>All segments of a super-packet, as the software segmenter makes them.</summary>
    public static List<byte[]> Segment(byte[] packet, PacketOffload offload)
    {
        var result = new List<byte[]>();
        var buffer = new byte[65536];
        int count = Segmenter.SegmentCount(packet, offload);
        for (int i = 0; i < count; i++)
        {
            int length = Segmenter.WriteSegment(packet, offload, i, buffer);
            result.Add(buffer.AsSpan(0, length).ToArray());
        }
        return result;
    }
}
