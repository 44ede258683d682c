using P2PNet.Peers;

namespace P2PNet.Protocols.Dht.Internal;

/// <summary>
/// Kademlia's k-buckets: peers grouped by how many leading bits their point shares with ours, at most
/// <c>bucketSize</c> per bucket, least recently seen first. A full bucket keeps its peers (long-lived peers are the
/// likeliest to stay) and turns the newcomer away; a peer that fails a query leaves it, which makes room.
/// </summary>
/// <remarks>Thread-safe.</remarks>
internal sealed class RoutingTable(PeerId self, int bucketSize)
{
    private readonly KadKey _self = KadKey.Of(self.Bytes);
    private readonly List<(PeerId Peer, KadKey Key)>[] _buckets = [.. Enumerable.Range(0, KadKey.Bits + 1).Select(_ => new List<(PeerId, KadKey)>())];
    private readonly Lock _lock = new();
    private int _count;

    public int Count => Volatile.Read(ref _count);

    /// <summary>Adds <paramref name="peer"/> or marks it seen (moved to the end of its bucket); false when its bucket is full.</summary>
    public bool TryAdd(PeerId peer)
    {
        if (peer == self)
        {
            return false;
        }
        var key = KadKey.Of(peer.Bytes);
        var bucket = _buckets[_self.CommonPrefixLength(key)];
        lock (_lock)
        {
            int index = bucket.FindIndex(e => e.Peer == peer);
            if (index >= 0)
            {
                bucket.RemoveAt(index);
                bucket.Add((peer, key));
                return true;
            }
            if (bucket.Count >= bucketSize)
            {
                return false;
            }
            bucket.Add((peer, key));
            _count++;
            return true;
        }
    }

    public bool Remove(PeerId peer)
    {
        var bucket = _buckets[_self.CommonPrefixLength(KadKey.Of(peer.Bytes))];
        lock (_lock)
        {
            int index = bucket.FindIndex(e => e.Peer == peer);
            if (index < 0)
            {
                return false;
            }
            bucket.RemoveAt(index);
            _count--;
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
}
