using System.Buffers;
using System.Buffers.Binary;

namespace P2PNet.Vpn.Internal;

/// <summary>
/// The framing of /p2pnet/vpn/ip/2.0.0: IP packets that may still need their transport checksum completed or need
/// segmenting (TSO/USO super-packets of up to 64 KiB), so a sender reads one super-packet from its TUN device and the
/// receiver's kernel (or <see cref="Segmenter"/>) cuts it up. Each frame is
/// <code>
/// u16be length ‖ u8 flags ‖ [u16be checksum start ‖ u16be checksum offset] ‖ [u8 segmentation ‖ u16be segment size] ‖ packet
/// </code>
/// where flag 0x01 (checksum partial) adds the checksum fields and flag 0x02 (segment) the segmentation fields
/// (<see cref="SegmentationKind"/> numbers); a segmented packet is also checksum partial; other flags are reserved.
/// Pure: parses from a sequence, writes to a buffer writer, no I/O, no allocation.
/// </summary>
internal static class OffloadFraming
{
    public const int MaxHeaderSize = 10;
    public const int MaxPacketSize = ushort.MaxValue;

    private const byte ChecksumFlag = 0x01;
    private const byte SegmentFlag = 0x02;

    /// <summary>Parses one frame from the start of <paramref name="buffer"/> and advances past it; false when more bytes are needed.</summary>
    /// <exception cref="WireFormatException">Reserved flags, a segmented packet without a partial checksum, or an unknown segmentation.</exception>
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> packet, out PacketOffload offload)
    {
        packet = default;
        offload = default;
        if (buffer.Length < 3)
        {
            return false;
        }
        Span<byte> header = stackalloc byte[MaxHeaderSize];
        int available = (int)Math.Min(buffer.Length, MaxHeaderSize);
        var first = buffer.FirstSpan;
        if (first.Length >= available)
        {
            first[..available].CopyTo(header);
        }
        else
        {
            buffer.Slice(0, available).CopyTo(header);
        }
        int length = BinaryPrimitives.ReadUInt16BigEndian(header);
        byte flags = header[2];
        if ((flags & ~(ChecksumFlag | SegmentFlag)) != 0)
        {
            throw new WireFormatException($"VPN packet frame with reserved flags 0x{flags:x2}.");
        }
        if ((flags & SegmentFlag) != 0 && (flags & ChecksumFlag) == 0)
        {
            throw new WireFormatException("VPN packet frame asks for segmentation without a partial checksum.");
        }
        int headerSize = 3 + ((flags & ChecksumFlag) != 0 ? 4 : 0) + ((flags & SegmentFlag) != 0 ? 3 : 0);
        if (buffer.Length < headerSize + length)
        {
            return false;
        }
        if ((flags & ChecksumFlag) != 0)
        {
            ushort start = BinaryPrimitives.ReadUInt16BigEndian(header[3..]);
            ushort offset = BinaryPrimitives.ReadUInt16BigEndian(header[5..]);
            var kind = SegmentationKind.None;
            ushort segmentSize = 0;
            if ((flags & SegmentFlag) != 0)
            {
                kind = (SegmentationKind)header[7];
                if (kind is not (SegmentationKind.TcpV4 or SegmentationKind.TcpV6 or SegmentationKind.Udp))
                {
                    throw new WireFormatException($"VPN packet frame with unknown segmentation {header[7]}.");
                }
                segmentSize = BinaryPrimitives.ReadUInt16BigEndian(header[8..]);
            }
            offload = new PacketOffload(true, start, offset, kind, segmentSize);
        }
        packet = buffer.Slice(headerSize, length);
        buffer = buffer.Slice(packet.End);
        return true;
    }

    /// <summary>The frame header size for <paramref name="offload"/>.</summary>
    public static int HeaderSize(in PacketOffload offload) =>
        3 + (offload.ChecksumPartial ? 4 : 0) + (offload.Segmentation != SegmentationKind.None ? 3 : 0);

    /// <summary>Writes one frame (no flush).</summary>
    public static void Write(IBufferWriter<byte> writer, ReadOnlySpan<byte> packet, in PacketOffload offload)
    {
        if (packet.Length > MaxPacketSize)
        {
            throw new ArgumentException($"An IP packet is at most {MaxPacketSize} bytes, not {packet.Length}.", nameof(packet));
        }
        if (offload.Segmentation != SegmentationKind.None && !offload.ChecksumPartial)
        {
            throw new ArgumentException("A segmented packet has a partial checksum.", nameof(offload));
        }
        int headerSize = HeaderSize(offload);
        var span = writer.GetSpan(headerSize + packet.Length);
        BinaryPrimitives.WriteUInt16BigEndian(span, (ushort)packet.Length);
        span[2] = (byte)((offload.ChecksumPartial ? ChecksumFlag : 0) | (offload.Segmentation != SegmentationKind.None ? SegmentFlag : 0));
        if (offload.ChecksumPartial)
        {
            BinaryPrimitives.WriteUInt16BigEndian(span[3..], offload.ChecksumStart);
            BinaryPrimitives.WriteUInt16BigEndian(span[5..], offload.ChecksumOffset);
            if (offload.Segmentation != SegmentationKind.None)
            {
                span[7] = (byte)offload.Segmentation;
                BinaryPrimitives.WriteUInt16BigEndian(span[8..], offload.SegmentSize);
            }
        }
        packet.CopyTo(span[headerSize..]);
        writer.Advance(headerSize + packet.Length);
    }
}
