using P2PNet.Crypto;
using P2PNet.Peers;
using P2PNet.Protocols.Dht.Internal;

namespace P2PNet.Core.Tests.Dht;

/// <summary>The routing table's replacement cache: bounded, asks for a liveness check of the least recently seen peer
/// when a bucket is full, and promotes the freshest candidate when a peer is evicted.</summary>
public sealed class RoutingTableTests
{
    private static readonly PeerId Self = NewPeer();

    [Fact]
    public void AFullBucket_KeepsNewcomersInABoundedReplacementCache_AndAsksToCheckItsLeastRecentlySeenPeer()
    {
        var checks = new List<PeerId>();
        var table = new RoutingTable(Self, bucketSize: 2, replacementCacheSize: 3, onBucketFull: checks.Add);
        var peers = PeersInBucket(0, 10);
        Assert.True(table.TryAdd(peers[0]));
        Assert.True(table.TryAdd(peers[1]));
        for (int i = 2; i < 10; i++)
        {
            Assert.False(table.TryAdd(peers[i]));
        }
        Assert.Equal(2, table.Count);
        Assert.Equal(3, table.ReplacementCount);
        Assert.Equal(8, checks.Count);
        Assert.All(checks, p => Assert.Equal(peers[0], p));

        // Seen again: peers[0] is no longer the least recently seen.
        Assert.True(table.TryAdd(peers[0]));
        Assert.False(table.TryAdd(peers[2]));
        Assert.Equal(peers[1], checks[^1]);
    }

    [Fact]
    public void EvictingAPeer_PromotesTheFreshestReplacement()
    {
        var table = new RoutingTable(Self, bucketSize: 2, replacementCacheSize: 3);
        var peers = PeersInBucket(0, 6);
        foreach (var peer in peers)
        {
            table.TryAdd(peer);
        }
        Assert.True(table.Remove(peers[0]));
        Assert.True(table.Contains(peers[5]));
        Assert.Equal(2, table.Count);
        Assert.Equal(2, table.ReplacementCount);
        Assert.True(table.Remove(peers[1]));
        Assert.True(table.Contains(peers[4]));
        // A candidate removed from the cache is not promoted later; the stalest (peers[2]) fell out when the cache filled.
        Assert.True(table.Remove(peers[3]));
        Assert.True(table.Remove(peers[5]));
        Assert.Equal(0, table.ReplacementCount);
        Assert.Equal(1, table.Count);
        Assert.False(table.Contains(peers[2]));
        Assert.True(table.Remove(peers[4]));
        Assert.Equal(0, table.Count);
    }

    [Fact]
    public void WithoutAReplacementCache_AFullBucketTurnsNewcomersAway()
    {
        var checks = 0;
        var table = new RoutingTable(Self, bucketSize: 1, replacementCacheSize: 0, onBucketFull: _ => checks++);
        var peers = PeersInBucket(0, 3);
        Assert.True(table.TryAdd(peers[0]));
        Assert.False(table.TryAdd(peers[1]));
        Assert.Equal(0, table.ReplacementCount);
        Assert.Equal(0, checks);
    }

    [Fact]
    public void StaleBuckets_AreThoseNoLookupRefreshed_UpToTheDeepestNonEmptyOne()
    {
        var table = new RoutingTable(Self, bucketSize: 20, createdAt: 0);
        foreach (var peer in PeersInBucket(2, 1))
        {
            table.TryAdd(peer);
        }
        Assert.Equal([0, 1, 2], table.StaleBuckets(before: 10, maxIndex: 15));
        table.MarkRefreshed(KadKey.Of(PeersInBucket(1, 1)[0].Bytes), 20);
        Assert.Equal([0, 2], table.StaleBuckets(before: 10, maxIndex: 15));
        Assert.Equal([0], table.StaleBuckets(before: 10, maxIndex: 0));
        Assert.Equal(2, table.BucketOf(KadKey.Of(PeersInBucket(2, 1)[0].Bytes)));
    }

    private static PeerId NewPeer() => PrivateKey.GenerateEd25519().PublicKey.ToPeerId();

    /// <summary>Random peers whose point shares exactly <paramref name="bucket"/> leading bits with ours.</summary>
    private static List<PeerId> PeersInBucket(int bucket, int count)
    {
        var self = KadKey.Of(Self.Bytes);
        var peers = new List<PeerId>();
        while (peers.Count < count)
        {
            var peer = NewPeer();
            if (self.CommonPrefixLength(KadKey.Of(peer.Bytes)) == bucket)
            {
                peers.Add(peer);
            }
        }
        return peers;
    }
}
