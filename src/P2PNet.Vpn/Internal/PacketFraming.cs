using System.Buffers;
using System.Buffers.Binary;

namespace P2PNet.Vpn.Internal;

/// <summary>
/// The framing of /p2pnet/vpn/ip/1.0.0: each IP packet is preceded by its length as a 2-byte big-endian integer.
/// Pure: parses from a sequence, writes to a buffer writer, no I/O, no allocation.
/// </summary>
internal static class PacketFraming
{
    public const int HeaderSize = 2;
    public const int MaxPacketSize = ushort.MaxValue;

    /// <summary>Parses one packet from the start of <paramref name="buffer"/> and advances past it; false when more bytes are needed.</summary>
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> packet)
    {
        packet = default;
        if (buffer.Length < HeaderSize)
        {
            return false;
        }
        int length;
        var first = buffer.FirstSpan;
        if (first.Length >= HeaderSize)
        {
            length = BinaryPrimitives.ReadUInt16BigEndian(first);
        }
        else
        {
            Span<byte> header = stackalloc byte[HeaderSize];
            buffer.Slice(0, HeaderSize).CopyTo(header);
            length = BinaryPrimitives.ReadUInt16BigEndian(header);
        }
        if (buffer.Length < HeaderSize + length)
        {
            return false;
        }
        packet = buffer.Slice(HeaderSize, length);
        buffer = buffer.Slice(packet.End);
        return true;
    }

    /// <summary>Writes one framed packet (no flush).</summary>
    public static void Write(IBufferWriter<byte> writer, ReadOnlySpan<byte> packet)
    {
        if (packet.Length > MaxPacketSize)
        {
            throw new ArgumentException($"An IP packet is at most {MaxPacketSize} bytes, not {packet.Length}.", nameof(packet));
        }
        var span = writer.GetSpan(HeaderSize + packet.Length);
        BinaryPrimitives.WriteUInt16BigEndian(span, (ushort)packet.Length);
        packet.CopyTo(span[HeaderSize..]);
        writer.Advance(HeaderSize + packet.Length);
    }
}
