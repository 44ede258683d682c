using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Testing;

namespace P2PNet.Core.Tests.PeerStore;

public sealed class PeerStorePersistenceTests : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);
    private readonly string _dir = Directory.CreateTempSubdirectory("p2pnet-peerstore-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private static Task WaitForAsync(Func<bool> condition, TimeSpan timeout) =>
        Conditions.WaitUntilAsync(condition, timeout, "the awaited condition did not hold");

    [Fact]
    public async Task Restart_WithSqlitePeerStore_ReconnectsToKnownPeers()
    {
        string database = Path.Combine(_dir, "peers.db");
        await using var peer = new P2PHost(new P2PHostOptions { IdleTimeout = TimeSpan.Zero });
        var peerAddress = (await peer.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")).AsTask().WaitAsync(Step))[0];
        using var identity = PrivateKey.GenerateEd25519();

        var options = new P2PHostOptions { Identity = identity };
        options.PeerStore.DatabasePath = database;
        options.PeerStore.FlushInterval = TimeSpan.FromMilliseconds(50);
        await using (var node = new P2PHost(options))
        {
            await node.DialAsync(peerAddress).AsTask().WaitAsync(Step);
            await WaitForAsync(() => node.PeerStore.Get(peer.PeerId)?.AgentVersion is not null, Step); // identify done
        }
        await WaitForAsync(() => peer.ConnectedPeers.Count == 0, Step);

        var again = new P2PHostOptions { Identity = identity };
        again.PeerStore.DatabasePath = database;
        await using var restarted = new P2PHost(again);
        // The database is read when the host starts, not when it is constructed.
        await restarted.StartAsync().AsTask().WaitAsync(Step);
        var record = restarted.PeerStore.Get(peer.PeerId);
        Assert.NotNull(record);
        Assert.Contains(peerAddress.WithoutPeerId(), record.Addresses);
        Assert.NotNull(record.PublicKey);
        Assert.Contains("/ipfs/ping/1.0.0", record.Protocols);

        await WaitForAsync(() => restarted.GetConnections(peer.PeerId).Count > 0, Step);
    }
}
