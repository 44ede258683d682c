using System.Buffers.Binary;
using P2PNet.Vpn.Internal;
using P2PNet.Vpn.NetStack.Internal;

namespace P2PNet.Vpn.Gateway.Internal;

/// <summary>The packets the egress writes itself (UDP datagrams and echo replies from Internet hosts, resets), and IPv4
/// fragmentation of those larger than the MTU (RFC 791 §2.3, §3.2). Pure: spans in, spans out, no I/O.</summary>
internal static class EgressPackets
{
    public const int Ipv4HeaderLength = 20;
    public const int UdpHeaderLength = 8;

    /// <summary>Writes a whole IPv4 packet (20-byte header, DF clear so it may be fragmented) carrying a UDP datagram
    /// from <paramref name="source"/>:<paramref name="sourcePort"/> with <paramref name="payload"/>; its length.</summary>
    public static int WriteUdp(Span<byte> destination, uint source, ushort sourcePort, uint target, ushort targetPort,
        ReadOnlySpan<byte> payload, ushort id)
    {
        int length = Ipv4HeaderLength + UdpHeaderLength + payload.Length;
        var packet = destination[..length];
        WriteHeader(packet, source, target, IpPacket.ProtocolUdp, length, id);
        var udp = packet[Ipv4HeaderLength..];
        BinaryPrimitives.WriteUInt16BigEndian(udp, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], targetPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)(UdpHeaderLength + payload.Length));
        payload.CopyTo(udp[UdpHeaderLength..]);
        IpPacket.WriteTransportChecksum(packet, 6, udp: true);
        return length;
    }

    /// <summary>Writes an ICMP echo reply from <paramref name="source"/> that answers <paramref name="request"/> (the
    /// request's ICMP message: identifier, sequence number and data are echoed, RFC 792); its length.</summary>
    public static int WriteEchoReply(Span<byte> destination, uint source, uint target, ReadOnlySpan<byte> request, ushort id)
    {
        int length = Ipv4HeaderLength + request.Length;
        var packet = destination[..length];
        WriteHeader(packet, source, target, IpPacket.ProtocolIcmp, length, id);
        var icmp = packet[Ipv4HeaderLength..];
        request.CopyTo(icmp);
        icmp[0] = 0; // echo reply
        icmp[1] = 0;
        icmp[2] = 0;
        icmp[3] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], Segmenter.Finish(Segmenter.Sum(icmp)));
        return length;
    }

    /// <summary>Writes an ICMP port unreachable (type 3 code 3, RFC 792) from <paramref name="source"/> to the member,
    /// quoting the header of a datagram the member sent to <paramref name="source"/>:<paramref name="sourcePort"/> (its IPv4
    /// header and the first 8 bytes of its UDP header, as the error of a real host does); 56.</summary>
    public static int WritePortUnreachable(Span<byte> destination, uint source, ushort sourcePort, uint member, ushort memberPort, ushort id)
    {
        const int quoted = Ipv4HeaderLength + UdpHeaderLength;
        const int length = Ipv4HeaderLength + 8 + quoted;
        var packet = destination[..length];
        IpPacket.WriteIpv4Header(packet, source, member, IpPacket.ProtocolIcmp, length, id);
        var icmp = packet[Ipv4HeaderLength..];
        icmp[..8].Clear();
        icmp[0] = 3;
        icmp[1] = 3;
        var original = icmp[8..];
        IpPacket.WriteIpv4Header(original, member, source, IpPacket.ProtocolUdp, quoted, 0);
        BinaryPrimitives.WriteUInt16BigEndian(original[20..], memberPort);
        BinaryPrimitives.WriteUInt16BigEndian(original[22..], sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(original[24..], UdpHeaderLength);
        BinaryPrimitives.WriteUInt16BigEndian(original[26..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], Segmenter.Finish(Segmenter.Sum(icmp)));
        return length;
    }

    /// <summary>Writes a bare RST (or RST+ACK) segment from <paramref name="source"/>:<paramref name="sourcePort"/>; 40.</summary>
    public static int WriteReset(Span<byte> destination, uint source, ushort sourcePort, uint target, ushort targetPort,
        uint seq, uint ack, TcpFlags flags, ushort id)
    {
        const int length = 40;
        var packet = destination[..length];
        IpPacket.WriteIpv4Header(packet, source, target, IpPacket.ProtocolTcp, length, id);
        var tcp = packet[Ipv4HeaderLength..];
        BinaryPrimitives.WriteUInt16BigEndian(tcp, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], targetPort);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], seq);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], ack);
        tcp[12] = 5 << 4;
        tcp[13] = (byte)flags;
        BinaryPrimitives.WriteUInt32BigEndian(tcp[14..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[18..], 0);
        IpPacket.WriteTransportChecksum(packet, 16, udp: false);
        return length;
    }

    /// <summary>How many packets of at most <paramref name="mtu"/> bytes <paramref name="packetLength"/> (a whole
    /// IPv4 packet with a 20-byte header) takes: 1 when it fits.</summary>
    public static int FragmentCount(int packetLength, int mtu)
    {
        if (packetLength <= mtu)
        {
            return 1;
        }
        int perFragment = FragmentPayload(mtu);
        return (packetLength - Ipv4HeaderLength + perFragment - 1) / perFragment;
    }

    /// <summary>Writes fragment <paramref name="index"/> of <paramref name="packet"/> (a whole IPv4 packet with a 20-byte
    /// header and DF clear) cut for <paramref name="mtu"/>; its length. With one fragment, the packet itself.</summary>
    public static int WriteFragment(ReadOnlySpan<byte> packet, int index, int mtu, Span<byte> destination)
    {
        if (packet.Length <= mtu)
        {
            packet.CopyTo(destination);
            return packet.Length;
        }
        int perFragment = FragmentPayload(mtu);
        var payload = packet[Ipv4HeaderLength..];
        int offset = index * perFragment;
        int count = Math.Min(perFragment, payload.Length - offset);
        bool more = offset + count < payload.Length;
        int length = Ipv4HeaderLength + count;
        packet[..Ipv4HeaderLength].CopyTo(destination);
        payload.Slice(offset, count).CopyTo(destination[Ipv4HeaderLength..]);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)length);
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], (ushort)((more ? 0x2000 : 0) | (offset / 8)));
        destination[10] = 0;
        destination[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(destination[10..], Segmenter.Finish(Segmenter.Sum(destination[..Ipv4HeaderLength])));
        return length;
    }

    // Every fragment but the last carries a multiple of 8 payload bytes (the offset field counts 8-byte units).
    private static int FragmentPayload(int mtu) => (mtu - Ipv4HeaderLength) & ~7;

    // As IpPacket.WriteIpv4Header, with DF clear: these packets may have to be fragmented on their way.
    private static void WriteHeader(Span<byte> packet, uint source, uint target, byte protocol, int length, ushort id)
    {
        IpPacket.WriteIpv4Header(packet, source, target, protocol, length, id);
        BinaryPrimitives.WriteUInt16BigEndian(packet[6..], 0);
        packet[10] = 0;
        packet[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(packet[10..], Segmenter.Finish(Segmenter.Sum(packet[..Ipv4HeaderLength])));
    }
}
