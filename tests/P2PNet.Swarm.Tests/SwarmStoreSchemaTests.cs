using Microsoft.Data.Sqlite;
using P2PNet.Crypto;
using P2PNet.Storage;

namespace P2PNet.Swarm.Tests;

/// <summary>The swarm store's schema version: a file from before versions were recorded opens and keeps its data; a
/// file from a newer P2PNet is refused and left alone.</summary>
public sealed class SwarmStoreSchemaTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("p2pnet-swarmschema-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private static long Execute(string path, string sql)
    {
        using var db = new SqliteConnection($"Data Source={path};Pooling=False");
        db.Open();
        using var command = db.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(command.ExecuteScalar() ?? 0L, System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public void Open_StoreWrittenByThePreviousSchema_KeepsItsSwarmAndRecordsTheVersion()
    {
        string path = Path.Combine(_dir, "swarm.db");
        using var key = PrivateKey.GenerateEd25519();
        var owner = key.PublicKey.ToPeerId();
        // The swarm table as written before versions were recorded (user_version 0), without the other tables.
        Execute(path, $"""
            CREATE TABLE swarm (
                singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
                swarm_id TEXT NOT NULL,
                owner TEXT NOT NULL,
                role TEXT NOT NULL,
                owner_addresses TEXT NOT NULL DEFAULT '',
                joined INTEGER NOT NULL DEFAULT 0,
                created_unix_ms INTEGER NOT NULL);
            INSERT INTO swarm VALUES (1, 'old-swarm', '{owner}', 'Member', '', 1, 1700000000000);
            """);

        using (var store = SwarmStore.Open(path))
        {
            var swarm = store.ReadSwarm();
            Assert.NotNull(swarm);
            Assert.Equal("old-swarm", swarm.SwarmId);
            Assert.Equal(owner, swarm.Owner);
            Assert.True(swarm.Joined);
            Assert.Empty(store.ReadKeys()); // the missing tables were created
        }

        Assert.Equal(SwarmStore.Migrations.Length, Execute(path, "PRAGMA user_version"));
    }

    [Fact]
    public void Open_StoreFromANewerVersion_IsRefusedWithStoreVersionException()
    {
        string path = Path.Combine(_dir, "future.db");
        Execute(path, "CREATE TABLE swarm (x INTEGER); PRAGMA user_version = 42;");

        var error = Assert.Throws<StoreVersionException>(() => SwarmStore.Open(path));

        Assert.Equal(42, error.FoundVersion);
        Assert.Equal(SwarmStore.Migrations.Length, error.SupportedVersion);
        Assert.Equal(0, Execute(path, "SELECT count(*) FROM sqlite_master WHERE name = 'keys'"));
    }
}
