using Microsoft.Data.Sqlite;
using P2PNet.Host;
using P2PNet.Host.Internal;
using P2PNet.Multiformats;
using P2PNet.Storage;

namespace P2PNet.Core.Tests.Host;

/// <summary>The host's services (peer store, identify, idle maintenance, mDNS, bootstrap) start with the host, in order,
/// and stop in reverse order; nothing is opened or started by the constructor.</summary>
public sealed class HostServicesTests : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);
    private readonly string _dir = Directory.CreateTempSubdirectory("p2pnet-services-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private P2PHostOptions OptionsWithStore(out string database)
    {
        database = Path.Combine(_dir, "peers.db");
        var options = new P2PHostOptions { IdleTimeout = TimeSpan.FromMinutes(1) };
        options.PeerStore.DatabasePath = database;
        options.PeerStore.FlushInterval = TimeSpan.FromHours(1); // only the flush at stop writes
        return options;
    }

    /// <summary>Records its start and stop in a shared journal; fails to start when told to.</summary>
    private sealed class RecordingService(string name, List<string> journal, Exception? startFailure = null) : IHostService
    {
        public string Name => name;

        public Task StartAsync(CancellationToken cancellationToken)
        {
            lock (journal)
            {
                journal.Add("start " + name);
            }
            return startFailure is null ? Task.CompletedTask : Task.FromException(startFailure);
        }

        public Task StopAsync(CancellationToken cancellationToken)
        {
            lock (journal)
            {
                journal.Add("stop " + name);
            }
            return Task.CompletedTask;
        }
    }

    [Fact]
    public async Task Constructor_WithPeerStorePath_CreatesNoFileAndStartsNothing()
    {
        await using var host = new P2PHost(OptionsWithStore(out string database));

        Assert.False(File.Exists(database));
        Assert.Equal(0, host.BackgroundCount);
        Assert.Equal(["peer store", "identify", "idle maintenance"], host.Services.All.Select(s => s.Name));
    }

    [Fact]
    public async Task Start_WithPeerStorePath_CreatesTheDatabase()
    {
        await using var host = new P2PHost(OptionsWithStore(out string database));

        await host.StartAsync().AsTask().WaitAsync(Step);

        Assert.True(File.Exists(database));
    }

    [Fact]
    public async Task Stop_StopsServicesInReverseOrder_AndFlushesThePeerStoreLast()
    {
        var journal = new List<string>();
        var host = new P2PHost(OptionsWithStore(out string database));
        host.Services.Add(new RecordingService("first", journal));
        host.Services.Add(new RecordingService("second", journal));
        await host.StartAsync().AsTask().WaitAsync(Step);
        var peer = P2PNet.Crypto.PrivateKey.GenerateEd25519();
        var peerId = peer.PublicKey.ToPeerId();
        peer.Dispose();
        host.PeerStore.AddAddresses(peerId, [Multiaddr.Parse("/ip4/192.0.2.1/tcp/4001")]);

        await host.DisposeAsync().AsTask().WaitAsync(Step);

        Assert.Equal(["start first", "start second", "stop second", "stop first"], journal);
        // Flushed (the interval is an hour: only the stop wrote it) and closed (another connection reads it).
        using var db = new SqliteConnection($"Data Source={database};Pooling=False");
        db.Open();
        using var select = db.CreateCommand();
        select.CommandText = "SELECT addresses FROM peers WHERE peer_id = $id";
        select.Parameters.AddWithValue("$id", peerId.ToString());
        Assert.Equal("/ip4/192.0.2.1/tcp/4001", select.ExecuteScalar() as string);
    }

    [Fact]
    public async Task Start_WhenAServiceFails_ThrowsHostServiceException_AndStopsTheStartedOnesInReverse()
    {
        var journal = new List<string>();
        await using var host = new P2PHost(OptionsWithStore(out string database));
        host.Services.Add(new RecordingService("first", journal));
        host.Services.Add(new RecordingService("broken", journal, new InvalidOperationException("no")));
        host.Services.Add(new RecordingService("never", journal));

        var error = await Assert.ThrowsAsync<HostServiceException>(() => host.StartAsync().AsTask().WaitAsync(Step));

        Assert.Equal("broken", error.ServiceName);
        Assert.IsType<InvalidOperationException>(error.InnerException);
        Assert.Equal(["start first", "start broken", "stop first"], journal);
        // The peer store started before them and was closed again: the file is free to delete.
        Assert.True(File.Exists(database));
        File.Delete(database);
        // Dialing or listening reports the same failure.
        await Assert.ThrowsAsync<HostServiceException>(() => host.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")).AsTask().WaitAsync(Step));
    }

    [Fact]
    public async Task Start_WithPeerStoreInAMissingDirectory_ThrowsHostServiceException()
    {
        var options = new P2PHostOptions();
        options.PeerStore.DatabasePath = Path.Combine(_dir, "missing", "peers.db");
        await using var host = new P2PHost(options);

        var error = await Assert.ThrowsAsync<HostServiceException>(() => host.StartAsync().AsTask().WaitAsync(Step));

        Assert.Equal("peer store", error.ServiceName);
        Assert.IsType<SqliteException>(error.InnerException);
    }

    [Fact]
    public async Task Start_WithPeerStoreFromANewerVersion_ThrowsAndLeavesTheFileAlone()
    {
        var options = OptionsWithStore(out string database);
        using (var db = new SqliteConnection($"Data Source={database};Pooling=False"))
        {
            db.Open();
            using var set = db.CreateCommand();
            set.CommandText = "PRAGMA user_version = 99";
            set.ExecuteNonQuery();
        }
        await using var host = new P2PHost(options);

        var error = await Assert.ThrowsAsync<HostServiceException>(() => host.StartAsync().AsTask().WaitAsync(Step));

        var version = Assert.IsType<StoreVersionException>(error.InnerException);
        Assert.Equal(99, version.FoundVersion);
    }
}
