using System.Text;
using Google.Protobuf;
using P2PNet.Crypto;
using P2PNet.Protocols.Dht;
using P2PNet.Protocols.Dht.Internal;
using P2PNet.Protocols.Dht.Protos;
using P2PNet.Testing;

namespace P2PNet.Core.Tests.Dht;

/// <summary>Routing-table and store upkeep driven by an injected clock: periodic refresh, republishing before expiry,
/// liveness checks that evict a dead peer for a newcomer, and records and providers kept across a restart in SQLite.</summary>
public sealed class DhtUpkeepTests
{
    private static readonly TimeSpan Timeout = DhtTestNetwork.Timeout;

    [Fact]
    public async Task TheRoutingTable_IsRefreshedEveryRefreshInterval()
    {
        var clock = new ManualTimeProvider();
        // Only node 5 refreshes (the others never do): its table, which holds host 0 alone, must grow by itself.
        await using var network = await DhtTestNetwork.StartAsync(6, i => new KadDhtOptions
        {
            TimeProvider = clock,
            RefreshInterval = i == 5 ? TimeSpan.FromMinutes(10) : System.Threading.Timeout.InfiniteTimeSpan,
        }, bootstrap: false);
        var dht = network.Dhts[5];
        Assert.Equal(1, dht.RoutingTableSize); // only host 0, which it dialled
        await clock.WaitForTimerAsync(TimeSpan.FromMinutes(10), Timeout);
        clock.Advance(TimeSpan.FromMinutes(10));
        await Conditions.WaitUntilAsync(() => dht.RoutingTableSize >= 5, Timeout, () => $"the refresh found {dht.RoutingTableSize - 1} more peers");
    }

    [Fact]
    public async Task Bootstrap_FromOneKnownPeer_LearnsItsNeighbours()
    {
        // FIND_NODE of the asker's own id must answer its neighbours, not only the asker itself.
        await using var network = await DhtTestNetwork.StartAsync(6, _ => new KadDhtOptions { RefreshInterval = System.Threading.Timeout.InfiniteTimeSpan }, bootstrap: false);
        var dht = network.Dhts[5];
        Assert.Equal(1, dht.RoutingTableSize);
        await dht.BootstrapAsync().WaitAsync(Timeout);
        Assert.Equal(5, dht.RoutingTableSize);
    }

    [Fact]
    public async Task ProvidedKeysAndPutRecords_AreRepublished_BeforeTheyExpire()
    {
        var clock = new ManualTimeProvider();
        await using var network = await DhtTestNetwork.StartAsync(6, _ =>
        {
            var options = new KadDhtOptions { TimeProvider = clock, RefreshInterval = System.Threading.Timeout.InfiniteTimeSpan };
            options.Validators["test"] = new AnyValueValidator();
            return options;
        });
        byte[] cid = [.. Encoding.ASCII.GetBytes("a provided key")];
        byte[] key = [.. "/test/republished"u8];
        Assert.True(await network.Dhts[1].ProvideAsync(cid).WaitAsync(Timeout) > 0);
        Assert.True(await network.Dhts[1].PutValueAsync(key, [5]).WaitAsync(Timeout) > 0);

        await clock.WaitForTimerAsync(TimeSpan.FromHours(22), Timeout);
        clock.Advance(TimeSpan.FromHours(22));
        // 50 h: past the provider TTL (48 h) and the record TTL (36 h) of the first announcement.
        clock.Advance(TimeSpan.FromHours(28));
        var seeker = network.Dhts[4];
        await Conditions.WaitUntilAsync(async ct =>
            (await seeker.FindProvidersAsync(cid, cancellationToken: ct).WaitAsync(Timeout, ct)).Any(p => p.Peer == network.Group[1].PeerId)
            && await seeker.GetValueAsync(key, ct).WaitAsync(Timeout, ct) is [5],
            Timeout, "the republished provider and record are found after their first TTL");
    }

    [Fact]
    public async Task ADeadPeerInAFullBucket_IsEvicted_AndTheNewcomerTakesItsPlace()
    {
        // Keys such that A and B fall in the same bucket of X's table (bucket size 1).
        var keys = new PrivateKey[3];
        keys[0] = PrivateKey.GenerateEd25519();
        var x = KadKey.Of(keys[0].PublicKey.ToPeerId().Bytes);
        for (int i = 1; i < 3;)
        {
            var candidate = PrivateKey.GenerateEd25519();
            if (x.CommonPrefixLength(KadKey.Of(candidate.PublicKey.ToPeerId().Bytes)) == 0)
            {
                keys[i++] = candidate;
            }
        }
        await using var group = await TestHostGroup.StartAsync(3, (i, o) => o.Identity = keys[i]);
        var dhts = group.Hosts.Select((h, i) => new KadDht(h, i == 0 ? new KadDhtOptions { BucketSize = 1 } : null)).ToArray();
        try
        {
            foreach (var dht in dhts)
            {
                dht.Start();
            }
            var (host, a, b) = (group[0], group[1], group[2]);
            await a.DialAsync(host.ListenAddresses[0]).AsTask().WaitAsync(Timeout);
            await Conditions.WaitUntilAsync(() => dhts[0].InRoutingTable(a.PeerId), Timeout, "A joins X's table");

            await dhts[1].DisposeAsync().AsTask().WaitAsync(Timeout);
            await a.DisposeAsync().AsTask().WaitAsync(Timeout);
            await Conditions.WaitUntilAsync(() => host.GetConnections(a.PeerId).Count == 0, Timeout, "X sees A gone");

            await b.DialAsync(host.ListenAddresses[0]).AsTask().WaitAsync(Timeout);
            await Conditions.WaitUntilAsync(() => dhts[0].InRoutingTable(b.PeerId) && !dhts[0].InRoutingTable(a.PeerId), Timeout,
                () => $"B replaces A (A in table: {dhts[0].InRoutingTable(a.PeerId)}, B: {dhts[0].InRoutingTable(b.PeerId)})");
            Assert.Equal(1, dhts[0].RoutingTableSize);
        }
        finally
        {
            foreach (var dht in dhts)
            {
                await dht.DisposeAsync().AsTask().WaitAsync(Timeout);
            }
        }
    }

    [Fact]
    public async Task ANodeRestartedOnTheSameDatabase_StillAnswersTheRecordsAndProvidersItWasGiven()
    {
        string directory = Directory.CreateTempSubdirectory("p2pnet-dht-").FullName;
        try
        {
            KadDhtOptions Options()
            {
                var options = new KadDhtOptions { DatabasePath = Path.Combine(directory, "dht.db") };
                options.Validators["test"] = new AnyValueValidator();
                return options;
            }
            await using var group = await TestHostGroup.StartAsync(2);
            var (server, client) = (group[0], group[1]);
            var dht = new KadDht(server, Options());
            dht.Start();
            await client.DialAsync(server.ListenAddresses[0]).AsTask().WaitAsync(Timeout);
            byte[] key = [.. "/test/kept"u8];
            byte[] cid = [.. "a kept cid"u8];
            Assert.NotNull(await DhtTestNetwork.RequestAsync(client, server.PeerId, DhtTestNetwork.Put(key, [4])));
            var announce = new PbKadMessage { Type = PbKadMessage.Types.MessageType.AddProvider, Key = ByteString.CopyFrom(cid) };
            announce.ProviderPeers.Add(new PbKadMessage.Types.Peer { Id = ByteString.CopyFrom(client.PeerId.Bytes) });
            Assert.Null(await DhtTestNetwork.RequestAsync(client, server.PeerId, announce));
            var getProviders = new PbKadMessage { Type = PbKadMessage.Types.MessageType.GetProviders, Key = ByteString.CopyFrom(cid) };
            await Conditions.WaitUntilAsync(async _ => (await DhtTestNetwork.RequestAsync(client, server.PeerId, getProviders))?.ProviderPeers.Count == 1,
                Timeout, "the provider is recorded");

            await dht.DisposeAsync().AsTask().WaitAsync(Timeout);
            await using var restarted = new KadDht(server, Options());
            restarted.Start();

            Assert.Equal([4], (await DhtTestNetwork.RequestAsync(client, server.PeerId, DhtTestNetwork.Get(key)))?.Record?.Value.ToByteArray());
            var providers = (await DhtTestNetwork.RequestAsync(client, server.PeerId, getProviders))?.ProviderPeers;
            Assert.Equal(client.PeerId.ToBytes(), Assert.Single(providers!).Id.ToByteArray());
            Assert.Equal([4], await restarted.GetValueAsync(key).WaitAsync(Timeout));
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task OptionsOutOfRange_AreRefusedWhenTheDhtIsCreated()
    {
        await using var group = await TestHostGroup.StartAsync(1);
        Assert.Throws<ArgumentException>(() => new KadDht(group[0], new KadDhtOptions { MaxRecordSize = 0 }));
        Assert.Throws<ArgumentException>(() => new KadDht(group[0], new KadDhtOptions { ReplacementCacheSize = -1 }));
        Assert.Throws<ArgumentException>(() => new KadDht(group[0], new KadDhtOptions { RefreshInterval = TimeSpan.Zero }));
        Assert.Throws<ArgumentException>(() => new KadDht(group[0], new KadDhtOptions { RecordTtl = TimeSpan.FromSeconds(-1) }));
    }

    private sealed class AnyValueValidator : IDhtRecordValidator
    {
        public void Validate(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
        {
        }

        public int Select(ReadOnlySpan<byte> key, IReadOnlyList<byte[]> values) => 0;
    }
}
