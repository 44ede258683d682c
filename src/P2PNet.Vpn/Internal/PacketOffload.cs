using System.Buffers.Binary;

namespace P2PNet.Vpn.Internal;

/// <summary>The segmentation a super-packet still needs. The values are virtio-net's <c>gso_type</c> numbers
/// (virtio spec v1.2 §5.1.6, <c>VIRTIO_NET_HDR_GSO_*</c>), so they map 1:1 to and from a TUN device's header.</summary>
internal enum SegmentationKind : byte
{
    /// <summary>A complete packet.</summary>
    None = 0,

    /// <summary>TCP over IPv4 (TSO): cut the payload into <see cref="PacketOffload.SegmentSize"/>-byte TCP segments.</summary>
    TcpV4 = 1,

    /// <summary>TCP over IPv6 (not carried by this IPv4 VPN; named so a TUN header with it is recognised and refused).</summary>
    TcpV6 = 4,

    /// <summary>UDP (USO, <c>UDP_SEGMENT</c>): cut the payload into <see cref="PacketOffload.SegmentSize"/>-byte datagrams.</summary>
    Udp = 5,
}

/// <summary>
/// What is left to do to a packet read from an offloading device before it is a valid packet on a wire: complete the
/// transport checksum (<see cref="ChecksumPartial"/>: the field at <see cref="ChecksumStart"/> + <see cref="ChecksumOffset"/>
/// holds the pseudo-header sum, and the sum over the bytes from <see cref="ChecksumStart"/> to the end is still to be
/// added), and/or cut it into segments (<see cref="Segmentation"/>). <c>default</c> is a complete packet.
/// </summary>
/// <remarks>Same meaning as the kernel's <c>CHECKSUM_PARTIAL</c> and GSO (linux/virtio_net.h), so a TUN device with
/// <c>IFF_VNET_HDR</c> can take such a packet as it is; every other receiver finishes it with <see cref="Segmenter"/>.</remarks>
internal readonly record struct PacketOffload(bool ChecksumPartial, ushort ChecksumStart, ushort ChecksumOffset, SegmentationKind Segmentation, ushort SegmentSize)
{
    /// <summary>The size of <c>struct virtio_net_hdr</c>, the header in front of every packet on an <c>IFF_VNET_HDR</c> TUN.</summary>
    public const int VirtioHeaderSize = 10;

    /// <summary>At most this many segments per super-packet (a 64 KiB packet with a 64-byte MSS); more is malformed, so a
    /// peer cannot make one small frame into thousands of packets.</summary>
    public const int MaxSegments = 1024;

    /// <summary>The longest IPv4 plus TCP headers (60 + 60 bytes): all <see cref="IsValidFor(ReadOnlySpan{byte}, int)"/> reads.</summary>
    public const int MaxHeadersLength = 120;

    private const byte NeedsChecksumFlag = 1; // VIRTIO_NET_HDR_F_NEEDS_CSUM
    private const int TcpChecksumOffset = 16;
    private const int UdpChecksumOffset = 6;

    /// <summary>Whether the packet is complete as it is.</summary>
    public bool IsComplete => !ChecksumPartial && Segmentation == SegmentationKind.None;

    /// <summary>Reads a <c>struct virtio_net_hdr</c> (host byte order, as legacy TUN uses); false for what this VPN never
    /// enables (ECN or UFO segmentation, unknown types).</summary>
    public static bool TryReadVirtioHeader(ReadOnlySpan<byte> header, out PacketOffload offload)
    {
        offload = default;
        byte flags = header[0];
        byte type = header[1];
        ushort segmentSize = ReadHost(header[4..]);
        ushort start = ReadHost(header[6..]);
        ushort offset = ReadHost(header[8..]);
        if (type is not ((byte)SegmentationKind.None or (byte)SegmentationKind.TcpV4 or (byte)SegmentationKind.TcpV6 or (byte)SegmentationKind.Udp))
        {
            return false;
        }
        bool partial = (flags & NeedsChecksumFlag) != 0; // DATA_VALID (2) only says the checksum is fine already
        if (type != 0 && !partial)
        {
            return false;
        }
        offload = partial ? new PacketOffload(true, start, offset, (SegmentationKind)type, type == 0 ? (ushort)0 : segmentSize) : default;
        return true;
    }

    /// <summary>Writes the <c>struct virtio_net_hdr</c> for <paramref name="packet"/> (host byte order); the packet must
    /// have passed <see cref="IsValidFor(ReadOnlySpan{byte})"/>.</summary>
    public void WriteVirtioHeader(ReadOnlySpan<byte> packet, Span<byte> header)
    {
        header[..VirtioHeaderSize].Clear();
        if (!ChecksumPartial)
        {
            return;
        }
        header[0] = NeedsChecksumFlag;
        header[1] = (byte)Segmentation;
        if (Segmentation != SegmentationKind.None)
        {
            WriteHost(header[2..], (ushort)HeadersLength(packet));
            WriteHost(header[4..], SegmentSize);
        }
        WriteHost(header[6..], ChecksumStart);
        WriteHost(header[8..], ChecksumOffset);
    }

    /// <summary>
    /// Whether this offload fits <paramref name="packet"/> (an IPv4 packet whose addresses were already checked): the
    /// checksum field lies inside the transport part; a segmented packet is unfragmented TCP or UDP with the checksum
    /// where that protocol has it, a consistent total length, complete headers and at most <see cref="MaxSegments"/>
    /// segments. What a hostile peer sends is checked here before a kernel or <see cref="Segmenter"/> sees it.
    /// </summary>
    public bool IsValidFor(ReadOnlySpan<byte> packet) => IsValidFor(packet, packet.Length);

    /// <summary>As <see cref="IsValidFor(ReadOnlySpan{byte})"/>, for a packet of <paramref name="length"/> bytes of which
    /// <paramref name="prefix"/> holds the first <see cref="MaxHeadersLength"/> (or all when shorter).</summary>
    public bool IsValidFor(ReadOnlySpan<byte> prefix, int length)
    {
        if (IsComplete)
        {
            return true;
        }
        var packet = prefix;
        if (!ChecksumPartial || length < 20 || packet.Length < Math.Min(length, MaxHeadersLength) || packet[0] >> 4 != 4)
        {
            return false;
        }
        int ipHeader = (packet[0] & 0xF) * 4;
        if (ipHeader < 20 || ChecksumStart < ipHeader || ChecksumStart + ChecksumOffset + 2 > length)
        {
            return false;
        }
        if (Segmentation == SegmentationKind.None)
        {
            return true;
        }
        if (SegmentSize == 0 || BinaryPrimitives.ReadUInt16BigEndian(packet[2..]) != length
            || (BinaryPrimitives.ReadUInt16BigEndian(packet[6..]) & 0x3FFF) != 0 || ChecksumStart != ipHeader)
        {
            return false; // fragments (MF or an offset) are never segmented
        }
        switch (Segmentation)
        {
            case SegmentationKind.TcpV4 when packet[9] == 6 && ChecksumOffset == TcpChecksumOffset:
            case SegmentationKind.Udp when packet[9] == 17 && ChecksumOffset == UdpChecksumOffset:
                break;
            default:
                return false;
        }
        int headers = HeadersLength(packet, length);
        if (headers < 0 || headers > length)
        {
            return false;
        }
        int payload = length - headers;
        return (payload + SegmentSize - 1) / SegmentSize <= MaxSegments;
    }

    /// <summary>The IP plus transport header length of a segmented packet; -1 when the TCP data offset is impossible.</summary>
    public int HeadersLength(ReadOnlySpan<byte> packet) => HeadersLength(packet, packet.Length);

    private int HeadersLength(ReadOnlySpan<byte> packet, int length)
    {
        int ipHeader = (packet[0] & 0xF) * 4;
        if (Segmentation == SegmentationKind.Udp)
        {
            return ipHeader + 8;
        }
        if (length < ipHeader + 20)
        {
            return -1;
        }
        int tcpHeader = (packet[ipHeader + 12] >> 4) * 4;
        return tcpHeader < 20 ? -1 : ipHeader + tcpHeader;
    }

    private static ushort ReadHost(ReadOnlySpan<byte> bytes) =>
        BitConverter.IsLittleEndian ? BinaryPrimitives.ReadUInt16LittleEndian(bytes) : BinaryPrimitives.ReadUInt16BigEndian(bytes);

    private static void WriteHost(Span<byte> bytes, ushort value)
    {
        if (BitConverter.IsLittleEndian)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(bytes, value);
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(bytes, value);
        }
    }
}
