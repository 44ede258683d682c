using System.Buffers.Binary;

namespace P2PNet.Vpn.NetStack.Internal;

/// <summary>A parsed TCP segment: header fields, the options this stack understands and the payload's place in the packet.
/// Parsing is pure and total: <see cref="TryParse"/> answers false for anything malformed and never throws.</summary>
internal struct TcpSegment
{
    public const int MaxSackBlocks = 4;

    public ushort SourcePort;
    public ushort DestinationPort;
    public uint SequenceNumber;
    public uint AcknowledgmentNumber;
    public TcpFlags Flags;
    public ushort Window;
    public int PayloadOffset;
    public int PayloadLength;

    /// <summary>MSS option (RFC 9293 §3.7.1), 0 when absent.</summary>
    public ushort Mss;

    /// <summary>Window-scale shift (RFC 7323 §2), -1 when absent.</summary>
    public int WindowScale;
    public bool SackPermitted;
    public bool HasTimestamp;
    public uint TsVal;
    public uint TsEcr;
    public int SackCount;
    public SackBlocks Sack;

    /// <summary>The sequence space the segment occupies: payload plus one each for SYN and FIN.</summary>
    public readonly int SequenceLength =>
        PayloadLength + ((Flags & TcpFlags.Syn) != 0 ? 1 : 0) + ((Flags & TcpFlags.Fin) != 0 ? 1 : 0);

    public readonly bool Has(TcpFlags flag) => (Flags & flag) != 0;

    /// <summary>Parses the TCP header at <paramref name="tcp"/> (the IP payload). Checksums are the caller's.</summary>
    public static bool TryParse(ReadOnlySpan<byte> tcp, out TcpSegment segment)
    {
        segment = default;
        segment.WindowScale = -1;
        if (tcp.Length < 20)
        {
            return false;
        }
        int dataOffset = (tcp[12] >> 4) * 4;
        if (dataOffset < 20 || dataOffset > tcp.Length)
        {
            return false;
        }
        segment.SourcePort = BinaryPrimitives.ReadUInt16BigEndian(tcp);
        segment.DestinationPort = BinaryPrimitives.ReadUInt16BigEndian(tcp[2..]);
        segment.SequenceNumber = BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]);
        segment.AcknowledgmentNumber = BinaryPrimitives.ReadUInt32BigEndian(tcp[8..]);
        segment.Flags = (TcpFlags)(tcp[13] & 0x3F);
        segment.Window = BinaryPrimitives.ReadUInt16BigEndian(tcp[14..]);
        segment.PayloadOffset = dataOffset;
        segment.PayloadLength = tcp.Length - dataOffset;
        ParseOptions(tcp[20..dataOffset], ref segment);
        return true;
    }

    // RFC 9293 §3.2: kind 0 ends the list, kind 1 is padding, every other option has a length byte that counts itself.
    // A malformed option ends parsing; what was read before it stands (as the kernel does).
    private static void ParseOptions(ReadOnlySpan<byte> options, ref TcpSegment segment)
    {
        int i = 0;
        while (i < options.Length)
        {
            byte kind = options[i];
            if (kind == 0)
            {
                return;
            }
            if (kind == 1)
            {
                i++;
                continue;
            }
            if (i + 1 >= options.Length)
            {
                return;
            }
            int length = options[i + 1];
            if (length < 2 || i + length > options.Length)
            {
                return;
            }
            var value = options.Slice(i + 2, length - 2);
            switch (kind)
            {
                case 2 when value.Length == 2:
                    segment.Mss = BinaryPrimitives.ReadUInt16BigEndian(value);
                    break;
                case 3 when value.Length == 1:
                    segment.WindowScale = Math.Min((int)value[0], 14); // RFC 7323 §2.3: larger shifts are taken as 14
                    break;
                case 4 when value.Length == 0:
                    segment.SackPermitted = true;
                    break;
                case 5 when value.Length % 8 == 0:
                    for (int b = 0; b + 8 <= value.Length && segment.SackCount < MaxSackBlocks; b += 8)
                    {
                        segment.Sack[segment.SackCount * 2] = BinaryPrimitives.ReadUInt32BigEndian(value[b..]);
                        segment.Sack[(segment.SackCount * 2) + 1] = BinaryPrimitives.ReadUInt32BigEndian(value[(b + 4)..]);
                        segment.SackCount++;
                    }
                    break;
                case 8 when value.Length == 8:
                    segment.HasTimestamp = true;
                    segment.TsVal = BinaryPrimitives.ReadUInt32BigEndian(value);
                    segment.TsEcr = BinaryPrimitives.ReadUInt32BigEndian(value[4..]);
                    break;
                default:
                    break;
            }
            i += length;
        }
    }
}

/// <summary>Up to four SACK blocks inline (left edge, right edge pairs), so parsing allocates nothing.</summary>
[System.Runtime.CompilerServices.InlineArray(TcpSegment.MaxSackBlocks * 2)]
internal struct SackBlocks
{
    private uint _element;
}
