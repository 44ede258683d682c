using System.Buffers.Binary;
using P2PNet.Vpn.Internal;

namespace P2PNet.Vpn.NetStack.Internal;

/// <summary>Why an incoming packet was dropped (a metric tag).</summary>
internal enum DropReason
{
    Malformed,
    BadChecksum,
    NotForUs,
    Fragment,
    UnsupportedVersion,
    UnsupportedProtocol,
    NoSocket,
    QueueFull,
    SynFlood,
    Paws,
    TooBig,
    IcmpIgnored,
}

/// <summary>A validated IP packet: addresses, protocol and where the transport payload lies. IPv6 has its own version
/// branch in <see cref="TryParse"/>; addresses are kept as the IPv4 value today and widen with it.</summary>
internal readonly struct IpPacket
{
    public const byte ProtocolIcmp = 1;
    public const byte ProtocolTcp = 6;
    public const byte ProtocolUdp = 17;

    public IpPacket(int version, uint source, uint destination, byte protocol, int headerLength, int totalLength,
        bool isFragment = false, bool dontFragment = false)
    {
        IsFragment = isFragment;
        DontFragment = dontFragment;
        Version = version;
        Source = source;
        Destination = destination;
        Protocol = protocol;
        HeaderLength = headerLength;
        TotalLength = totalLength;
    }

    public int Version { get; }

    public uint Source { get; }

    public uint Destination { get; }

    public byte Protocol { get; }

    public int HeaderLength { get; }

    public int TotalLength { get; }

    public int PayloadLength => TotalLength - HeaderLength;

    /// <summary>DF set: a router may not fragment it, and answers ICMP "fragmentation needed" instead (RFC 1191).</summary>
    public bool DontFragment { get; }

    /// <summary>MF set or a non-zero fragment offset: the stack reassembles it before anything else looks at it.</summary>
    public bool IsFragment { get; }

    /// <summary>Validates an IPv4 header (RFC 791 §3.1, RFC 1122 §3.2.1): version, IHL, total length against what was
    /// read, header checksum. Fragments parse too, flagged <see cref="IsFragment"/>.</summary>
    public static bool TryParse(ReadOnlySpan<byte> packet, out IpPacket ip, out DropReason reason)
    {
        ip = default;
        reason = DropReason.Malformed;
        if (packet.IsEmpty)
        {
            return false;
        }
        int version = packet[0] >> 4;
        if (version != 4)
        {
            reason = DropReason.UnsupportedVersion; // IPv6 (RFC 8200) goes here when the stack grows it
            return false;
        }
        if (packet.Length < 20)
        {
            return false;
        }
        int ihl = (packet[0] & 0x0F) * 4;
        int total = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
        if (ihl < 20 || total < ihl || total > packet.Length)
        {
            return false;
        }
        if (Segmenter.Finish(Segmenter.Sum(packet[..ihl])) != 0)
        {
            reason = DropReason.BadChecksum;
            return false;
        }
        ushort fragment = BinaryPrimitives.ReadUInt16BigEndian(packet[6..]);
        ip = new IpPacket(4, BinaryPrimitives.ReadUInt32BigEndian(packet[12..]), BinaryPrimitives.ReadUInt32BigEndian(packet[16..]),
            packet[9], ihl, total, (fragment & 0x3FFF) != 0, (fragment & 0x4000) != 0); // MF set or a non-zero offset; DF
        return true;
    }

    /// <summary>The transport checksum over pseudo-header and payload; 0 when it verifies.</summary>
    public static ushort TransportChecksum(ReadOnlySpan<byte> packet, in IpPacket ip) =>
        Segmenter.Finish(Segmenter.PseudoHeaderSum(packet, ip.Protocol, ip.PayloadLength)
            + Segmenter.Sum(packet.Slice(ip.HeaderLength, ip.PayloadLength)));

    /// <summary>Writes a 20-byte IPv4 header (DF set, TTL 64) with its checksum.</summary>
    public static void WriteIpv4Header(Span<byte> destination, uint source, uint target, byte protocol, int totalLength, ushort id)
    {
        destination[0] = 0x45;
        destination[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)totalLength);
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], id);
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], 0x4000);
        destination[8] = 64;
        destination[9] = protocol;
        destination[10] = 0;
        destination[11] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(destination[12..], source);
        BinaryPrimitives.WriteUInt32BigEndian(destination[16..], target);
        BinaryPrimitives.WriteUInt16BigEndian(destination[10..], Segmenter.Finish(Segmenter.Sum(destination[..20])));
    }

    /// <summary>Fills in the transport checksum of a finished IPv4 packet at byte <paramref name="checksumOffset"/> of the
    /// transport header.</summary>
    public static void WriteTransportChecksum(Span<byte> packet, int checksumOffset, bool udp)
    {
        int length = packet.Length - 20;
        packet.Slice(20 + checksumOffset, 2).Clear();
        ushort sum = Segmenter.Finish(Segmenter.PseudoHeaderSum(packet, packet[9], length) + Segmenter.Sum(packet[20..]));
        if (udp && sum == 0)
        {
            sum = 0xFFFF; // RFC 768: a computed zero is sent as all ones
        }
        BinaryPrimitives.WriteUInt16BigEndian(packet[(20 + checksumOffset)..], sum);
    }
}
