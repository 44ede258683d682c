using System.Collections.Concurrent;
using System.Net;
using P2PNet.Proxy.UdpBridge.Internal;

namespace P2PNet.Proxy.Inbound.Internal;

/// <summary>Why a public connection or flow was not taken.</summary>
internal enum SourceVerdict
{
    Allowed,

    /// <summary>The source already holds the most connections one source may hold.</summary>
    TooManyOpen,

    /// <summary>The source opened connections faster than its rate allows.</summary>
    RateLimited,
}

/// <summary>
/// Per-source-IP limits over all of a proxy's public sockets (the inbound-proxy design's DoS section): at most
/// <c>maxOpen</c> connections (or UDP flows) open at once per IP, and at most <c>rate</c> new ones per second per IP
/// (a token bucket with a one-second burst). IPv6 sources count per /64, the block one subscriber holds.
/// </summary>
/// <remarks>Thread-safe. Entries of sources with nothing open are dropped by <see cref="Prune"/> once their bucket is full
/// again, so the table holds only recent sources.</remarks>
internal sealed class SourceLimiter(int maxOpen, int rate, TimeProvider time)
{
    private readonly ConcurrentDictionary<IPAddress, Source> _sources = new();

    public int Count => _sources.Count;

    public SourceVerdict TryOpen(IPAddress address)
    {
        var key = Key(address);
        while (true)
        {
            var source = _sources.GetOrAdd(key, _ => new Source(time.GetTimestamp(), rate));
            lock (source)
            {
                if (source.Removed)
                {
                    continue; // pruned between the lookup and the lock: take the fresh entry
                }
                if (maxOpen > 0 && source.Open >= maxOpen)
                {
                    return SourceVerdict.TooManyOpen;
                }
                if (!source.Bucket.TryTake(1, rate, time.GetTimestamp(), time.TimestampFrequency))
                {
                    return SourceVerdict.RateLimited;
                }
                source.Open++;
                return SourceVerdict.Allowed;
            }
        }
    }

    public void Close(IPAddress address)
    {
        if (_sources.TryGetValue(Key(address), out var source))
        {
            lock (source)
            {
                source.Open--;
            }
        }
    }

    /// <summary>Drops sources with nothing open whose bucket has refilled (idle for a second or more).</summary>
    public void Prune()
    {
        long now = time.GetTimestamp();
        foreach (var (key, source) in _sources)
        {
            lock (source)
            {
                source.Bucket.Refill(rate, now, time.TimestampFrequency);
                if (source.Open == 0 && source.Bucket.Has(rate, rate))
                {
                    source.Removed = true;
                    _sources.TryRemove(new KeyValuePair<IPAddress, Source>(key, source));
                }
            }
        }
    }

    private static IPAddress Key(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }
        if (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            return address;
        }
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes);
    }

    private sealed class Source(long now, int rate)
    {
        public TokenBucket Bucket = new(now, rate);
        public int Open;
        public bool Removed;
    }
}
