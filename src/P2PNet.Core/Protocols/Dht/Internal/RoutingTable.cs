using P2PNet.Peers;

namespace P2PNet.Protocols.Dht.Internal;

/// <summary>
/// Kademlia's k-buckets: peers grouped by how many leading bits their point shares with ours, at most
/// <c>bucketSize</c> per bucket, least recently seen first. A full bucket keeps its peers (long-lived peers are the
/// likeliest to stay) and puts the newcomer in the bucket's bounded replacement cache (Kademlia paper §4.1); it then
/// asks, through <c>onBucketFull</c>, for a liveness check of its least recently seen peer. A peer that fails (a
/// check or a query) is removed and the freshest replacement takes its place.
/// </summary>
/// <remarks>Thread-safe. <c>onBucketFull</c> runs outside the lock, on the caller's thread, and must not block.</remarks>
internal sealed class RoutingTable
{
    private readonly PeerId _selfPeer;
    private readonly KadKey _self;
    private readonly int _bucketSize;
    private readonly int _replacementCacheSize;
    private readonly Action<PeerId>? _onBucketFull;
    private readonly List<(PeerId Peer, KadKey Key)>[] _buckets;
    private readonly List<(PeerId Peer, KadKey Key)>[] _replacements;
    private readonly long[] _refreshed;
    private readonly Lock _lock = new();
    private int _count;

    public RoutingTable(PeerId self, int bucketSize, int replacementCacheSize = 0, Action<PeerId>? onBucketFull = null, long createdAt = 0)
    {
        _selfPeer = self;
        _self = KadKey.Of(self.Bytes);
        _bucketSize = bucketSize;
        _replacementCacheSize = replacementCacheSize;
        _onBucketFull = onBucketFull;
        _buckets = [.. Enumerable.Range(0, KadKey.Bits + 1).Select(_ => new List<(PeerId, KadKey)>())];
        _replacements = [.. Enumerable.Range(0, KadKey.Bits + 1).Select(_ => new List<(PeerId, KadKey)>())];
        _refreshed = [.. Enumerable.Repeat(createdAt, KadKey.Bits + 1)];
    }

    public int Count => Volatile.Read(ref _count);

    /// <summary>Candidates waiting in replacement caches, all buckets together.</summary>
    public int ReplacementCount
    {
        get
        {
            lock (_lock)
            {
                return _replacements.Sum(r => r.Count);
            }
        }
    }

    /// <summary>Adds <paramref name="peer"/> or marks it seen (moved to the end of its bucket); false when its bucket is
    /// full (the peer then waits in the replacement cache, and the bucket's least recently seen peer is to be checked).</summary>
    public bool TryAdd(PeerId peer)
    {
        if (peer == _selfPeer)
        {
            return false;
        }
        var key = KadKey.Of(peer.Bytes);
        int index = _self.CommonPrefixLength(key);
        var bucket = _buckets[index];
        PeerId leastRecentlySeen;
        lock (_lock)
        {
            int at = bucket.FindIndex(e => e.Peer == peer);
            if (at >= 0)
            {
                bucket.RemoveAt(at);
                bucket.Add((peer, key));
                return true;
            }
            if (bucket.Count < _bucketSize)
            {
                bucket.Add((peer, key));
                _count++;
                return true;
            }
            if (_replacementCacheSize == 0)
            {
                return false;
            }
            // The freshest candidate goes last; the stalest falls out when the cache is full.
            var cache = _replacements[index];
            cache.RemoveAll(e => e.Peer == peer);
            cache.Add((peer, key));
            if (cache.Count > _replacementCacheSize)
            {
                cache.RemoveAt(0);
            }
            leastRecentlySeen = bucket[0].Peer;
        }
        _onBucketFull?.Invoke(leastRecentlySeen);
        return false;
    }

    /// <summary>Removes <paramref name="peer"/> (from its bucket or its replacement cache); the freshest replacement
    /// of the bucket takes a freed place.</summary>
    public bool Remove(PeerId peer)
    {
        int index = _self.CommonPrefixLength(KadKey.Of(peer.Bytes));
        var bucket = _buckets[index];
        var cache = _replacements[index];
        lock (_lock)
        {
            int at = bucket.FindIndex(e => e.Peer == peer);
            if (at < 0)
            {
                return cache.RemoveAll(e => e.Peer == peer) > 0;
            }
            bucket.RemoveAt(at);
            if (cache.Count > 0)
            {
                // Promoted as the least recently seen: it has not answered us yet.
                bucket.Insert(0, cache[^1]);
                cache.RemoveAt(cache.Count - 1);
            }
            else
            {
                _count--;
            }
            return true;
        }
    }

    public bool Contains(PeerId peer)
    {
        var bucket = _buckets[_self.CommonPrefixLength(KadKey.Of(peer.Bytes))];
        lock (_lock)
        {
            return bucket.Exists(e => e.Peer == peer);
        }
    }

    /// <summary>The <paramref name="count"/> peers closest to <paramref name="target"/>, closest first.</summary>
    public IReadOnlyList<PeerId> Closest(KadKey target, int count)
    {
        List<(PeerId Peer, KadKey Key)> all;
        lock (_lock)
        {
            all = [.. _buckets.SelectMany(b => b)];
        }
        all.Sort((a, b) => target.CompareDistance(a.Key, b.Key));
        return [.. all.Take(count).Select(e => e.Peer)];
    }

    /// <summary>Notes that a lookup of <paramref name="target"/> refreshed the bucket the target falls in.</summary>
    public void MarkRefreshed(KadKey target, long timestamp)
    {
        int index = _self.CommonPrefixLength(target);
        lock (_lock)
        {
            _refreshed[index] = timestamp;
        }
    }

    /// <summary>The buckets (by common prefix length, at most <paramref name="maxIndex"/>) up to the deepest non-empty
    /// one that no lookup refreshed since <paramref name="before"/>.</summary>
    public IReadOnlyList<int> StaleBuckets(long before, int maxIndex)
    {
        lock (_lock)
        {
            int deepest = Array.FindLastIndex(_buckets, b => b.Count > 0);
            return [.. Enumerable.Range(0, Math.Min(deepest, maxIndex) + 1).Where(i => _refreshed[i] <= before)];
        }
    }

    /// <summary>Which bucket <paramref name="point"/> falls in (its common prefix length with our point).</summary>
    public int BucketOf(KadKey point) => _self.CommonPrefixLength(point);
}
