using System.Buffers.Binary;
using System.Net;
using System.Text;

namespace P2PNet.Discovery.Mdns.Internal;

/// <summary>
/// A strict DNS message codec (RFC 1035 §4.1) for mDNS: names with compression pointers (§4.1.4) and PTR, TXT, A,
/// AAAA and SRV data; other types are kept as raw bytes. Pure: no I/O. Hostile input — pointers that do not point
/// strictly backwards (so no loops), lengths past the end, names over 255 bytes, labels with dots or invalid UTF-8,
/// record data not consumed exactly, trailing bytes, too many pointer hops in a name or too much name-reading work in a
/// message — throws <see cref="WireFormatException"/> and nothing else.
/// </summary>
/// <remarks>
/// Pointers that only point backwards cannot loop, but they can still chain: a 9000-byte message with a chain of ~2,000
/// pointers and ~400 records whose names each enter the chain at its end costs ~10^6 steps to decode. Two caps bound
/// that work (RFC 9267 catalogues unbounded decompression among DNS parsing anti-patterns): <see cref="MaxPointerHopsPerName"/> per name
/// and <see cref="MaxNameStepsPerMessage"/> labels plus pointer hops over the whole message.
/// </remarks>
internal static class DnsMessageCodec
{
    /// <summary>Largest message written or read: RFC 6762 §17 (9000 bytes, a jumbo Ethernet frame's payload).</summary>
    public const int MaxMessageSize = 9000;

    /// <summary>
    /// Most compression pointers followed while reading one name. A name has at most 127 labels (255 bytes), so a name
    /// that needs more hops than that is only ever built to burn CPU.
    /// </summary>
    public const int MaxPointerHopsPerName = 128;

    /// <summary>
    /// Most labels read plus pointers followed over all names of one message. Real mDNS responses take a few hundred;
    /// this bounds a hostile 9000-byte message to a small multiple of its size instead of ~10^6 steps.
    /// </summary>
    public const int MaxNameStepsPerMessage = 16_384;

    private const int MaxNameLength = 255;
    private const int MaxLabelLength = 63;
    private const int HeaderSize = 12;
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    /// <summary>Parses one message (a whole UDP datagram).</summary>
    /// <exception cref="WireFormatException">The message is malformed.</exception>
    public static DnsMessage Parse(ReadOnlySpan<byte> message)
    {
        int nameSteps = 0;
        return Parse(message, ref nameSteps);
    }

    /// <summary>Parses one message, counting in <paramref name="nameSteps"/> the labels read and pointers followed (tests count the work).</summary>
    /// <exception cref="WireFormatException">The message is malformed or needs too much work to decode.</exception>
    internal static DnsMessage Parse(ReadOnlySpan<byte> message, ref int nameSteps)
    {
        if (message.Length < HeaderSize)
        {
            throw new WireFormatException($"A DNS message has a 12-byte header; got {message.Length} bytes.");
        }
        if (message.Length > MaxMessageSize)
        {
            throw new WireFormatException($"A DNS message over mDNS is at most {MaxMessageSize} bytes; got {message.Length}.");
        }
        ushort id = BinaryPrimitives.ReadUInt16BigEndian(message);
        ushort flags = BinaryPrimitives.ReadUInt16BigEndian(message[2..]);
        int qd = BinaryPrimitives.ReadUInt16BigEndian(message[4..]);
        int an = BinaryPrimitives.ReadUInt16BigEndian(message[6..]);
        int ns = BinaryPrimitives.ReadUInt16BigEndian(message[8..]);
        int ar = BinaryPrimitives.ReadUInt16BigEndian(message[10..]);
        int pos = HeaderSize;
        var questions = new List<DnsQuestion>(Math.Min(qd, 16));
        for (int i = 0; i < qd; i++)
        {
            string name = ReadName(message, ref pos, ref nameSteps);
            Need(message, pos, 4);
            questions.Add(new DnsQuestion(name, BinaryPrimitives.ReadUInt16BigEndian(message[pos..]), BinaryPrimitives.ReadUInt16BigEndian(message[(pos + 2)..])));
            pos += 4;
        }
        var answers = ReadRecords(message, ref pos, an, ref nameSteps);
        var authorities = ReadRecords(message, ref pos, ns, ref nameSteps);
        var additionals = ReadRecords(message, ref pos, ar, ref nameSteps);
        if (pos != message.Length)
        {
            throw new WireFormatException($"{message.Length - pos} bytes follow the last record of the DNS message.");
        }
        return new DnsMessage(id, flags, questions, answers, authorities, additionals);
    }

    private static List<DnsRecord> ReadRecords(ReadOnlySpan<byte> message, ref int pos, int count, ref int nameSteps)
    {
        var records = new List<DnsRecord>(Math.Min(count, 16));
        for (int i = 0; i < count; i++)
        {
            string name = ReadName(message, ref pos, ref nameSteps);
            Need(message, pos, 10);
            ushort type = BinaryPrimitives.ReadUInt16BigEndian(message[pos..]);
            ushort @class = BinaryPrimitives.ReadUInt16BigEndian(message[(pos + 2)..]);
            uint ttl = BinaryPrimitives.ReadUInt32BigEndian(message[(pos + 4)..]);
            int length = BinaryPrimitives.ReadUInt16BigEndian(message[(pos + 8)..]);
            pos += 10;
            Need(message, pos, length);
            int end = pos + length;
            DnsRecordData data = ReadData(message, pos, end, type, ref nameSteps);
            records.Add(new DnsRecord(name, type, @class, ttl, data));
            pos = end;
        }
        return records;
    }

    private static DnsRecordData ReadData(ReadOnlySpan<byte> message, int start, int end, ushort type, ref int nameSteps)
    {
        var rdata = message[start..end];
        switch (type)
        {
            case DnsType.A:
            case DnsType.Aaaa:
                int expected = type == DnsType.A ? 4 : 16;
                if (rdata.Length != expected)
                {
                    throw new WireFormatException($"An {(type == DnsType.A ? "A" : "AAAA")} record holds {expected} bytes; got {rdata.Length}.");
                }
                return new DnsAddressData(new IPAddress(rdata));
            case DnsType.Ptr:
            {
                int pos = start;
                string target = ReadName(message, ref pos, ref nameSteps, end);
                ExpectEnd(pos, end, "PTR");
                return new DnsPtrData(target);
            }
            case DnsType.Srv:
            {
                if (rdata.Length < 7)
                {
                    throw new WireFormatException($"An SRV record holds at least 7 bytes; got {rdata.Length}.");
                }
                int pos = start + 6;
                string target = ReadName(message, ref pos, ref nameSteps, end);
                ExpectEnd(pos, end, "SRV");
                return new DnsSrvData(BinaryPrimitives.ReadUInt16BigEndian(rdata), BinaryPrimitives.ReadUInt16BigEndian(rdata[2..]),
                    BinaryPrimitives.ReadUInt16BigEndian(rdata[4..]), target);
            }
            case DnsType.Txt:
            {
                var strings = new List<byte[]>();
                for (int pos = 0; pos < rdata.Length;)
                {
                    int length = rdata[pos];
                    if (pos + 1 + length > rdata.Length)
                    {
                        throw new WireFormatException("A TXT string runs past the end of its record.");
                    }
                    strings.Add(rdata.Slice(pos + 1, length).ToArray());
                    pos += 1 + length;
                }
                return new DnsTxtData(strings);
            }
            default:
                return new DnsRawData(rdata.ToArray());
        }
    }

    private static void ExpectEnd(int pos, int end, string type)
    {
        if (pos != end)
        {
            throw new WireFormatException($"The {type} record's name does not fill its data exactly.");
        }
    }

    /// <summary>
    /// Reads a name at <paramref name="pos"/> (advancing it past the name as stored there). Each compression pointer must
    /// point strictly before the run of labels it ends, so a chain of pointers strictly decreases and cannot loop; the
    /// chain's length and the message's total work are capped (<see cref="MaxPointerHopsPerName"/>,
    /// <see cref="MaxNameStepsPerMessage"/>).
    /// </summary>
    private static string ReadName(ReadOnlySpan<byte> message, ref int pos, ref int nameSteps, int limit = -1)
    {
        if (limit < 0)
        {
            limit = message.Length;
        }
        var name = new StringBuilder();
        int p = pos;
        int runStart = p;
        int wireLength = 1;
        int hops = 0;
        bool jumped = false;
        while (true)
        {
            if (++nameSteps > MaxNameStepsPerMessage)
            {
                throw new WireFormatException($"The DNS message's names take over {MaxNameStepsPerMessage} labels and pointer hops to read.");
            }
            if (p >= (jumped ? message.Length : limit))
            {
                throw new WireFormatException("A DNS name runs past the end of its data.");
            }
            byte length = message[p];
            if ((length & 0xC0) == 0xC0)
            {
                if (p + 1 >= (jumped ? message.Length : limit))
                {
                    throw new WireFormatException("A DNS compression pointer runs past the end of its data.");
                }
                int target = (length & 0x3F) << 8 | message[p + 1];
                if (target >= runStart)
                {
                    throw new WireFormatException($"A DNS compression pointer at {p} points forward or into its own name (to {target}).");
                }
                if (++hops > MaxPointerHopsPerName)
                {
                    throw new WireFormatException($"A DNS name follows more than {MaxPointerHopsPerName} compression pointers.");
                }
                if (!jumped)
                {
                    pos = p + 2;
                    jumped = true;
                }
                p = target;
                runStart = target;
                continue;
            }
            if ((length & 0xC0) != 0)
            {
                throw new WireFormatException($"A DNS label length byte 0x{length:x2} uses the reserved 0x40/0x80 bits.");
            }
            if (length == 0)
            {
                if (!jumped)
                {
                    pos = p + 1;
                }
                return name.ToString();
            }
            int end = jumped ? message.Length : limit;
            if (p + 1 + length > end)
            {
                throw new WireFormatException("A DNS label runs past the end of its data.");
            }
            wireLength += 1 + length;
            if (wireLength > MaxNameLength)
            {
                throw new WireFormatException($"A DNS name is longer than {MaxNameLength} bytes.");
            }
            string label;
            try
            {
                label = StrictUtf8.GetString(message.Slice(p + 1, length));
            }
            catch (DecoderFallbackException e)
            {
                throw new WireFormatException("A DNS label is not valid UTF-8.", e);
            }
            if (label.Contains('.', StringComparison.Ordinal))
            {
                throw new WireFormatException("A DNS label contains a dot.");
            }
            if (name.Length > 0)
            {
                name.Append('.');
            }
            name.Append(label);
            p += 1 + length;
        }
    }

    private static void Need(ReadOnlySpan<byte> message, int pos, int count)
    {
        if (pos + count > message.Length)
        {
            throw new WireFormatException($"The DNS message ends {pos + count - message.Length} bytes early.");
        }
    }

    /// <summary>Encodes <paramref name="message"/>, compressing repeated name suffixes.</summary>
    /// <exception cref="ArgumentException">A name or TXT string is too long, or the message exceeds <see cref="MaxMessageSize"/>.</exception>
    public static byte[] Encode(DnsMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var writer = new DnsWriter();
        writer.UInt16(message.Id);
        writer.UInt16(message.Flags);
        writer.UInt16(Count(message.Questions.Count));
        writer.UInt16(Count(message.Answers.Count));
        writer.UInt16(Count(message.Authorities.Count));
        writer.UInt16(Count(message.Additionals.Count));
        foreach (var q in message.Questions)
        {
            writer.Name(q.Name);
            writer.UInt16(q.Type);
            writer.UInt16(q.Class);
        }
        foreach (var record in message.Answers.Concat(message.Authorities).Concat(message.Additionals))
        {
            writer.Name(record.Name);
            writer.UInt16(record.Type);
            writer.UInt16(record.Class);
            writer.UInt32(record.Ttl);
            int lengthAt = writer.Reserve(2);
            int start = writer.Length;
            switch (record.Data)
            {
                case DnsPtrData ptr:
                    writer.Name(ptr.Target);
                    break;
                case DnsSrvData srv:
                    writer.UInt16(srv.Priority);
                    writer.UInt16(srv.Weight);
                    writer.UInt16(srv.Port);
                    writer.Name(srv.Target);
                    break;
                case DnsTxtData txt:
                    foreach (var s in txt.Strings)
                    {
                        if (s.Length > 255)
                        {
                            throw new ArgumentException("A TXT string is at most 255 bytes.", nameof(message));
                        }
                        writer.Byte((byte)s.Length);
                        writer.Bytes(s);
                    }
                    break;
                case DnsAddressData address:
                    writer.Bytes(address.Address.GetAddressBytes());
                    break;
                case DnsRawData raw:
                    writer.Bytes(raw.Bytes);
                    break;
                default:
                    throw new ArgumentException($"Unknown record data {record.Data.GetType().Name}.", nameof(message));
            }
            int length = writer.Length - start;
            if (length > ushort.MaxValue)
            {
                throw new ArgumentException("Record data is at most 65535 bytes.", nameof(message));
            }
            writer.Patch(lengthAt, (ushort)length);
        }
        if (writer.Length > MaxMessageSize)
        {
            throw new ArgumentException($"The DNS message would be {writer.Length} bytes; mDNS allows {MaxMessageSize}.", nameof(message));
        }
        return writer.ToArray();
    }

    private static ushort Count(int count) => count <= ushort.MaxValue ? (ushort)count
        : throw new ArgumentException("A DNS section holds at most 65535 entries.", nameof(count));

    /// <summary>Validates and splits a name into labels.</summary>
    internal static string[] Labels(string name)
    {
        if (name.Length == 0)
        {
            return [];
        }
        var labels = name.Split('.');
        int wire = 1;
        foreach (var label in labels)
        {
            int bytes = Encoding.UTF8.GetByteCount(label);
            if (bytes == 0 || bytes > MaxLabelLength)
            {
                throw new ArgumentException($"The DNS name '{name}' has an empty label or one over {MaxLabelLength} bytes.", nameof(name));
            }
            wire += 1 + bytes;
        }
        if (wire > MaxNameLength)
        {
            throw new ArgumentException($"The DNS name '{name}' is over {MaxNameLength} bytes.", nameof(name));
        }
        return labels;
    }

    /// <summary>A growable buffer with name compression.</summary>
    private sealed class DnsWriter
    {
        private readonly Dictionary<string, int> _suffixes = new(StringComparer.Ordinal);
        private byte[] _buffer = new byte[512];

        public int Length { get; private set; }

        private Span<byte> Grow(int count)
        {
            if (Length + count > _buffer.Length)
            {
                Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, Length + count));
            }
            var span = _buffer.AsSpan(Length, count);
            Length += count;
            return span;
        }

        public void Byte(byte value) => Grow(1)[0] = value;

        public void Bytes(ReadOnlySpan<byte> value) => value.CopyTo(Grow(value.Length));

        public void UInt16(ushort value) => BinaryPrimitives.WriteUInt16BigEndian(Grow(2), value);

        public void UInt32(uint value) => BinaryPrimitives.WriteUInt32BigEndian(Grow(4), value);

        public int Reserve(int count)
        {
            int at = Length;
            Grow(count);
            return at;
        }

        public void Patch(int at, ushort value) => BinaryPrimitives.WriteUInt16BigEndian(_buffer.AsSpan(at), value);

        public void Name(string name)
        {
            var labels = Labels(name);
            for (int i = 0; i < labels.Length; i++)
            {
                string suffix = string.Join('.', labels, i, labels.Length - i);
                if (_suffixes.TryGetValue(suffix, out int offset))
                {
                    UInt16((ushort)(0xC000 | offset));
                    return;
                }
                if (Length < 0x3FFF)
                {
                    _suffixes[suffix] = Length;
                }
                var bytes = Encoding.UTF8.GetBytes(labels[i]);
                Byte((byte)bytes.Length);
                Bytes(bytes);
            }
            Byte(0);
        }

        public byte[] ToArray() => _buffer.AsSpan(0, Length).ToArray();
    }
}
