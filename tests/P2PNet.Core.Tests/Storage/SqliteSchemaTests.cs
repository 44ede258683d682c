using Microsoft.Data.Sqlite;
using P2PNet.Host;
using P2PNet.Peers.Internal;
using P2PNet.Storage;
using P2PNet.Storage.Internal;

namespace P2PNet.Core.Tests.Storage;

/// <summary>Schema versions in <c>PRAGMA user_version</c>: old files upgrade, newer ones are refused untouched.</summary>
public sealed class SqliteSchemaTests : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);
    private readonly string _dir = Directory.CreateTempSubdirectory("p2pnet-schema-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private static void Execute(string path, string sql)
    {
        using var db = new SqliteConnection($"Data Source={path};Pooling=False");
        db.Open();
        using var command = db.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection db, string sql)
    {
        using var command = db.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    [Fact]
    public void Open_NewFile_AppliesEveryMigration()
    {
        string path = Path.Combine(_dir, "new.db");

        using var db = SqliteSchema.Open(path, ["CREATE TABLE a (x INTEGER)", "CREATE TABLE b (y INTEGER)"]);

        Assert.Equal(2, SqliteSchema.GetVersion(db));
        Assert.Equal(0L, Scalar(db, "SELECT count(*) FROM b"));
    }

    [Fact]
    public void Open_FileAtAnOlderVersion_AppliesOnlyTheMissingMigrations()
    {
        string path = Path.Combine(_dir, "old.db");
        Execute(path, "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (7); PRAGMA user_version = 1;");

        // Migration 0 would fail on the existing table if it ran again.
        using var db = SqliteSchema.Open(path, ["CREATE TABLE a (x INTEGER)", "ALTER TABLE a ADD COLUMN z TEXT DEFAULT 'new'"]);

        Assert.Equal(2, SqliteSchema.GetVersion(db));
        Assert.Equal("new", Scalar(db, "SELECT z FROM a WHERE x = 7"));
    }

    [Fact]
    public void Open_FileFromANewerVersion_IsRefusedAndLeftUntouched()
    {
        string path = Path.Combine(_dir, "newer.db");
        Execute(path, "CREATE TABLE future (x INTEGER); PRAGMA user_version = 5;");

        var error = Assert.Throws<StoreVersionException>(() => SqliteSchema.Open(path, ["CREATE TABLE a (x INTEGER)"]));

        Assert.Equal(5, error.FoundVersion);
        Assert.Equal(1, error.SupportedVersion);
        Assert.Equal(path, error.Path);
        using var db = new SqliteConnection($"Data Source={path};Pooling=False");
        db.Open();
        Assert.Equal(5, SqliteSchema.GetVersion(db));
        Assert.Equal(0L, Scalar(db, "SELECT count(*) FROM sqlite_master WHERE name = 'a'"));
    }

    [Fact]
    public async Task PeerStore_WrittenByThePreviousSchema_IsUpgradedAndLoaded()
    {
        // The table exactly as P2PNet wrote it before schema versions were recorded (user_version 0).
        string path = Path.Combine(_dir, "peers.db");
        var key = P2PNet.Crypto.PrivateKey.GenerateEd25519();
        var peer = key.PublicKey.ToPeerId();
        key.Dispose();
        Execute(path, $"""
            CREATE TABLE IF NOT EXISTS peers (
                peer_id TEXT PRIMARY KEY,
                public_key BLOB,
                addresses TEXT NOT NULL,
                protocols TEXT NOT NULL,
                agent_version TEXT,
                protocol_version TEXT,
                last_seen_ms INTEGER NOT NULL);
            INSERT INTO peers VALUES ('{peer}', NULL, '/ip4/192.0.2.7/tcp/4001', '/ipfs/ping/1.0.0', 'old-agent', NULL, 1700000000000);
            """);
        var options = new P2PHostOptions();
        options.PeerStore.DatabasePath = path;
        options.PeerStore.ReconnectOnStart = 0;

        await using (var host = new P2PHost(options))
        {
            await host.StartAsync().AsTask().WaitAsync(Step);
            var record = host.PeerStore.Get(peer);
            Assert.NotNull(record);
            Assert.Equal("old-agent", record.AgentVersion);
        }

        using var db = new SqliteConnection($"Data Source={path};Pooling=False");
        db.Open();
        Assert.Equal(SqlitePeerStorage.Migrations.Length, SqliteSchema.GetVersion(db));
        Assert.Equal(1L, Scalar(db, "SELECT count(*) FROM sqlite_master WHERE name = 'peers_by_last_seen'"));
    }
}
