using Microsoft.Data.Sqlite;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Storage.Internal;

namespace P2PNet.Protocols.Dht.Internal;

/// <summary>
/// An <see cref="IDhtStore"/> in a SQLite file (<see cref="KadDhtOptions.DatabasePath"/>): a node restarted on the
/// same file still answers the providers and records it was given until they expire. One connection, one statement
/// per call under a lock; the schema is migrated by the shared <see cref="SqliteSchema"/>.
/// </summary>
internal sealed class SqliteDhtStore(string path, KadDhtOptions options) : IDhtStore
{
    /// <summary>The schema, one migration per version (<see cref="SqliteSchema"/>). Times are Unix milliseconds.</summary>
    internal static readonly string[] Migrations =
    [
        """
        CREATE TABLE IF NOT EXISTS providers (
            key BLOB NOT NULL,
            peer BLOB NOT NULL,
            addresses TEXT NOT NULL,
            expires_ms INTEGER NOT NULL,
            PRIMARY KEY (key, peer));
        CREATE INDEX IF NOT EXISTS providers_by_expiry ON providers (expires_ms);
        CREATE TABLE IF NOT EXISTS records (
            key BLOB PRIMARY KEY,
            value BLOB NOT NULL,
            received_ms INTEGER NOT NULL,
            expires_ms INTEGER NOT NULL);
        CREATE INDEX IF NOT EXISTS records_by_expiry ON records (expires_ms);
        """,
    ];

    private readonly Lock _lock = new();
    private SqliteConnection? _connection;

    public int RecordCount
    {
        get
        {
            lock (_lock)
            {
                return CountRecords();
            }
        }
    }

    public int ProviderKeyCount
    {
        get
        {
            lock (_lock)
            {
                return CountProviderKeys();
            }
        }
    }

    private SqliteConnection Connection => _connection ?? throw new InvalidOperationException("The DHT store is not open (start the KadDht first).");

    /// <exception cref="Storage.StoreVersionException">The file was written by a newer version of P2PNet.</exception>
    public void Open()
    {
        lock (_lock)
        {
            _connection ??= SqliteSchema.Open(path, Migrations, "PRAGMA journal_mode = WAL");
        }
    }

    public bool AddProvider(byte[] key, PeerId peer, IReadOnlyList<Multiaddr> addresses, DateTimeOffset expires, DateTimeOffset now)
    {
        lock (_lock)
        {
            bool known = Exists("SELECT 1 FROM providers WHERE key = $key LIMIT 1", key);
            if (!known && CountProviderKeys() >= options.MaxProviderKeys)
            {
                RemoveExpiredLocked(now);
                if (CountProviderKeys() >= options.MaxProviderKeys)
                {
                    return false;
                }
            }
            using var transaction = Connection.BeginTransaction();
            using (var upsert = Connection.CreateCommand(
                """
                INSERT INTO providers (key, peer, addresses, expires_ms) VALUES ($key, $peer, $addresses, $expires)
                ON CONFLICT(key, peer) DO UPDATE SET addresses = excluded.addresses, expires_ms = excluded.expires_ms
                """,
                ("$key", key), ("$peer", peer.ToBytes()), ("$addresses", string.Join('\n', addresses.Take(16))),
                ("$expires", expires.ToUnixTimeMilliseconds())))
            {
                upsert.Transaction = transaction;
                upsert.ExecuteNonQuery();
            }
            // The most recent entries of the key are kept (as in memory).
            using (var trim = Connection.CreateCommand(
                """
                DELETE FROM providers WHERE key = $key AND peer NOT IN
                    (SELECT peer FROM providers WHERE key = $key ORDER BY expires_ms DESC LIMIT $max)
                """,
                ("$key", key), ("$max", options.MaxProvidersPerKey)))
            {
                trim.Transaction = transaction;
                trim.ExecuteNonQuery();
            }
            transaction.Commit();
            return true;
        }
    }

    public IReadOnlyList<DhtProvider> GetProviders(byte[] key, DateTimeOffset now)
    {
        var providers = new List<DhtProvider>();
        lock (_lock)
        {
            using var select = Connection.CreateCommand(
                "SELECT peer, addresses FROM providers WHERE key = $key AND expires_ms > $now ORDER BY expires_ms DESC LIMIT $max",
                ("$key", key), ("$now", now.ToUnixTimeMilliseconds()), ("$max", options.MaxProvidersPerKey));
            using var reader = select.ExecuteReader();
            while (reader.Read())
            {
                PeerId peer;
                try
                {
                    peer = PeerId.FromBytes((byte[])reader.GetValue(0));
                }
                catch (WireFormatException)
                {
                    continue; // a damaged row is skipped, not fatal
                }
                var addresses = reader.GetString(1).Split('\n', StringSplitOptions.RemoveEmptyEntries)
                    .Select(a => Multiaddr.TryParse(a, out var m) ? m : null).OfType<Multiaddr>().ToArray();
                providers.Add(new DhtProvider(peer, addresses));
            }
        }
        return providers;
    }

    public bool PutRecord(StoredRecord record, DateTimeOffset now)
    {
        lock (_lock)
        {
            bool known = Exists("SELECT 1 FROM records WHERE key = $key", record.Key);
            if (!known && CountRecords() >= options.MaxRecords)
            {
                RemoveExpiredLocked(now);
                if (CountRecords() >= options.MaxRecords)
                {
                    return false;
                }
            }
            using var upsert = Connection.CreateCommand(
                """
                INSERT INTO records (key, value, received_ms, expires_ms) VALUES ($key, $value, $received, $expires)
                ON CONFLICT(key) DO UPDATE SET value = excluded.value, received_ms = excluded.received_ms, expires_ms = excluded.expires_ms
                """,
                ("$key", record.Key), ("$value", record.Value), ("$received", record.Received.ToUnixTimeMilliseconds()),
                ("$expires", record.Expires.ToUnixTimeMilliseconds()));
            upsert.ExecuteNonQuery();
            return true;
        }
    }

    public StoredRecord? GetRecord(byte[] key, DateTimeOffset now)
    {
        lock (_lock)
        {
            using var select = Connection.CreateCommand(
                "SELECT value, received_ms, expires_ms FROM records WHERE key = $key AND expires_ms > $now",
                ("$key", key), ("$now", now.ToUnixTimeMilliseconds()));
            using var reader = select.ExecuteReader();
            return reader.Read()
                ? new StoredRecord(key, (byte[])reader.GetValue(0), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)),
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)))
                : null;
        }
    }

    public int RemoveExpired(DateTimeOffset now)
    {
        lock (_lock)
        {
            return RemoveExpiredLocked(now);
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _connection?.Dispose();
            _connection = null;
        }
    }

    private int RemoveExpiredLocked(DateTimeOffset now)
    {
        long ms = now.ToUnixTimeMilliseconds();
        using var providers = Connection.CreateCommand("DELETE FROM providers WHERE expires_ms <= $now", ("$now", ms));
        using var records = Connection.CreateCommand("DELETE FROM records WHERE expires_ms <= $now", ("$now", ms));
        return providers.ExecuteNonQuery() + records.ExecuteNonQuery();
    }

    private bool Exists(string sql, byte[] key)
    {
        using var select = Connection.CreateCommand(sql, ("$key", key));
        return select.ExecuteScalar() is not null;
    }

    private int CountProviderKeys()
    {
        using var count = Connection.CreateCommand("SELECT COUNT(DISTINCT key) FROM providers");
        return (int)(long)count.ExecuteScalar()!;
    }

    private int CountRecords()
    {
        using var count = Connection.CreateCommand("SELECT COUNT(*) FROM records");
        return (int)(long)count.ExecuteScalar()!;
    }
}
