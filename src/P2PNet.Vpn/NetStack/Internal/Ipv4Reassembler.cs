using System.Buffers;
using System.Buffers.Binary;
using P2PNet.Vpn.Internal;

namespace P2PNet.Vpn.NetStack.Internal;

/// <summary>What became of a fragment handed to <see cref="Ipv4Reassembler.Add"/>.</summary>
internal enum FragmentOutcome
{
    /// <summary>Kept (or an exact duplicate ignored); the datagram is not complete yet.</summary>
    Held,

    /// <summary>The datagram is complete: the caller owns the pooled buffer handed out.</summary>
    Complete,

    /// <summary>The fragment, and with it its datagram, was dropped (overlap, limit or malformed).</summary>
    Dropped,
}

/// <summary>
/// Bounded IPv4 fragment reassembly (RFC 791 §3.2, RFC 815's hole accounting): fragments are keyed by source,
/// destination, protocol and identification; a datagram completes when its last fragment has fixed its length and the
/// pieces cover it without a gap.
/// </summary>
/// <remarks>
/// Bounds: a datagram is at most 65,535 bytes; at most <c>maxDatagrams</c> are held at once and <c>maxBytes</c> of
/// fragment data in all (the oldest datagram is evicted to make room); each is forgotten <c>timeoutMs</c> after its
/// first fragment. Overlapping fragments drop the whole datagram (RFC 5722's rule for IPv6, applied to IPv4: overlaps
/// serve only to evade inspection); an exact duplicate of a held fragment is ignored. Not thread-safe: the stack calls it
/// under its lock.
/// </remarks>
internal sealed class Ipv4Reassembler
{
    public const int MaxDatagramLength = 65535;

    private readonly Dictionary<Key, Entry> _entries = [];
    private readonly List<Key> _scratch = [];
    private readonly int _maxDatagrams;
    private readonly long _maxBytes;
    private readonly long _timeoutMs;
    private readonly NetStackMetrics? _metrics;

    public Ipv4Reassembler(int maxDatagrams, long maxBytes, long timeoutMs, NetStackMetrics? metrics = null)
    {
        _maxDatagrams = maxDatagrams;
        _maxBytes = maxBytes;
        _timeoutMs = timeoutMs;
        _metrics = metrics;
    }

    /// <summary>Datagrams being reassembled.</summary>
    public int Count => _entries.Count;

    /// <summary>Fragment payload bytes held, over all datagrams.</summary>
    public long HeldBytes { get; private set; }

    public long Reassembled { get; private set; }

    public long DroppedByTimeout { get; private set; }

    public long DroppedByOverlap { get; private set; }

    public long DroppedByLimit { get; private set; }

    /// <summary>Adds one fragment (an IPv4 packet whose MF flag or offset is set, header already validated). On
    /// <see cref="FragmentOutcome.Complete"/>, <paramref name="datagram"/> is a pooled buffer holding the whole datagram
    /// (the first fragment's header, fragment fields cleared, checksum redone) in its first <paramref name="length"/> bytes;
    /// the caller returns it to <see cref="ArrayPool{T}.Shared"/>.</summary>
    public FragmentOutcome Add(ReadOnlySpan<byte> packet, in IpPacket ip, long nowMs, out byte[]? datagram, out int length)
    {
        datagram = null;
        length = 0;
        Expire(nowMs);
        ushort field = BinaryPrimitives.ReadUInt16BigEndian(packet[6..]);
        bool more = (field & 0x2000) != 0;
        int offset = (field & 0x1FFF) * 8;
        var payload = packet.Slice(ip.HeaderLength, ip.PayloadLength);
        int end = offset + payload.Length;
        var key = new Key(ip.Source, ip.Destination, ip.Protocol, BinaryPrimitives.ReadUInt16BigEndian(packet[4..]));
        _entries.TryGetValue(key, out var entry);
        if (payload.IsEmpty || (more && payload.Length % 8 != 0))
        {
            return FragmentOutcome.Dropped; // RFC 791: every fragment but the last carries a multiple of 8 bytes
        }
        if (ip.HeaderLength + end > MaxDatagramLength)
        {
            if (entry is not null)
            {
                Remove(key, entry);
            }
            CountLimit();
            return FragmentOutcome.Dropped;
        }
        if (entry is null)
        {
            while (_entries.Count >= _maxDatagrams)
            {
                EvictOldest(except: null);
            }
            entry = new Entry(nowMs + _timeoutMs, nowMs);
            _entries.Add(key, entry);
        }
        // A last fragment fixes the length; anything disagreeing with it is as suspect as an overlap.
        if (!more)
        {
            if ((entry.PayloadLength >= 0 && entry.PayloadLength != end) || entry.MaxEnd > end)
            {
                return DropOverlap(key, entry);
            }
        }
        else if (entry.PayloadLength >= 0 && end > entry.PayloadLength)
        {
            return DropOverlap(key, entry);
        }
        foreach (var piece in entry.Pieces)
        {
            if (piece.Start == offset && piece.End == end)
            {
                return FragmentOutcome.Held; // a duplicate (retransmitted or duplicated on the way)
            }
            if (offset < piece.End && piece.Start < end)
            {
                return DropOverlap(key, entry);
            }
        }
        while (HeldBytes + payload.Length > _maxBytes && _entries.Count > 1)
        {
            EvictOldest(except: entry);
        }
        if (HeldBytes + payload.Length > _maxBytes)
        {
            Remove(key, entry);
            CountLimit();
            return FragmentOutcome.Dropped;
        }
        byte[] data = ArrayPool<byte>.Shared.Rent(payload.Length);
        payload.CopyTo(data);
        entry.Pieces.Add(new Piece(offset, end, data));
        entry.Bytes += payload.Length;
        entry.MaxEnd = Math.Max(entry.MaxEnd, end);
        HeldBytes += payload.Length;
        if (!more)
        {
            entry.PayloadLength = end;
        }
        if (offset == 0)
        {
            entry.Header = packet[..ip.HeaderLength].ToArray();
        }
        if (entry.Header is null || entry.PayloadLength < 0 || entry.Bytes != entry.PayloadLength)
        {
            return FragmentOutcome.Held;
        }
        // No overlaps are kept, so pieces summing to the length cover it exactly.
        int headerLength = entry.Header.Length;
        if (headerLength + entry.PayloadLength > MaxDatagramLength)
        {
            Remove(key, entry);
            CountLimit();
            return FragmentOutcome.Dropped;
        }
        length = headerLength + entry.PayloadLength;
        datagram = ArrayPool<byte>.Shared.Rent(length);
        var whole = datagram.AsSpan(0, length);
        entry.Header.CopyTo(whole);
        foreach (var piece in entry.Pieces)
        {
            piece.Data.AsSpan(0, piece.End - piece.Start).CopyTo(whole[(headerLength + piece.Start)..]);
        }
        BinaryPrimitives.WriteUInt16BigEndian(whole[2..], (ushort)length);
        BinaryPrimitives.WriteUInt16BigEndian(whole[6..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(whole[10..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(whole[10..], Segmenter.Finish(Segmenter.Sum(whole[..headerLength])));
        Remove(key, entry);
        Reassembled++;
        _metrics?.Reassembly("reassembled");
        return FragmentOutcome.Complete;
    }

    /// <summary>Forgets datagrams whose time is up (RFC 791's reassembly timer).</summary>
    public void Expire(long nowMs)
    {
        if (_entries.Count == 0)
        {
            return;
        }
        _scratch.Clear();
        foreach (var (key, entry) in _entries)
        {
            if (nowMs >= entry.Deadline)
            {
                _scratch.Add(key);
            }
        }
        foreach (var key in _scratch)
        {
            Remove(key, _entries[key]);
            DroppedByTimeout++;
            _metrics?.Reassembly("timeout");
        }
        _scratch.Clear();
    }

    /// <summary>Returns every held buffer to the pool.</summary>
    public void Clear()
    {
        foreach (var (key, entry) in _entries.ToArray())
        {
            Remove(key, entry);
        }
    }

    private FragmentOutcome DropOverlap(Key key, Entry entry)
    {
        Remove(key, entry);
        DroppedByOverlap++;
        _metrics?.Reassembly("overlap");
        return FragmentOutcome.Dropped;
    }

    private void CountLimit()
    {
        DroppedByLimit++;
        _metrics?.Reassembly("limit");
    }

    private void EvictOldest(Entry? except)
    {
        Key oldest = default;
        Entry? victim = null;
        foreach (var (key, entry) in _entries)
        {
            if (entry != except && (victim is null || entry.Created < victim.Created))
            {
                oldest = key;
                victim = entry;
            }
        }
        if (victim is not null)
        {
            Remove(oldest, victim);
            CountLimit();
        }
    }

    private void Remove(Key key, Entry entry)
    {
        _entries.Remove(key);
        foreach (var piece in entry.Pieces)
        {
            ArrayPool<byte>.Shared.Return(piece.Data);
        }
        HeldBytes -= entry.Bytes;
        entry.Pieces.Clear();
        entry.Bytes = 0;
    }

    private readonly record struct Key(uint Source, uint Destination, byte Protocol, ushort Id);

    private readonly record struct Piece(int Start, int End, byte[] Data);

    private sealed class Entry(long deadline, long created)
    {
        public long Deadline { get; } = deadline;

        public long Created { get; } = created;

        public List<Piece> Pieces { get; } = [];

        public byte[]? Header { get; set; }

        public int PayloadLength { get; set; } = -1;

        public int MaxEnd { get; set; }

        public long Bytes { get; set; }
    }
}
