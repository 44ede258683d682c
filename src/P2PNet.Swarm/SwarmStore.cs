using System.Text;
using Microsoft.Data.Sqlite;
using P2PNet.Crypto;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Security.Pnet;
using P2PNet.Storage;
using P2PNet.Storage.Internal;
using P2PNet.Swarm.Internal;

namespace P2PNet.Swarm;

/// <summary>
/// The persistent state of one private swarm in an SQLite file: the swarm's id and owner, the authorised peers (with
/// their public keys once known), revoked peers, the current swarm key and previous keys with their grace expiry,
/// and the bootstrap addresses. Used by <see cref="SwarmOwner"/> (everything) and <see cref="SwarmMember"/> (its
/// membership, keys and bootstrap addresses), so a restart loses nothing.
/// </summary>
/// <remarks>Thread-safe. The file holds swarm keys in clear: on Unix it (and its -wal and -shm files) is left readable by its owner only (0600) on every open, whatever mode it had.</remarks>
public sealed partial class SwarmStore : IDisposable
{
    private readonly SqliteConnection _db;
    private readonly Lock _lock = new();

    /// <summary>The schema, one migration per version (<c>PRAGMA user_version</c>, see Core's SqliteSchema). Version 1
    /// is the schema written before versions were recorded, hence <c>IF NOT EXISTS</c>.</summary>
    internal static readonly string[] Migrations =
    [
        """
        CREATE TABLE IF NOT EXISTS swarm (
            singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
            swarm_id TEXT NOT NULL,
            owner TEXT NOT NULL,
            role TEXT NOT NULL,
            owner_addresses TEXT NOT NULL DEFAULT '',
            joined INTEGER NOT NULL DEFAULT 0,
            created_unix_ms INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS keys (
            fingerprint TEXT PRIMARY KEY,
            key_file TEXT NOT NULL,
            created_unix_ms INTEGER NOT NULL,
            is_current INTEGER NOT NULL,
            grace_until_unix_ms INTEGER);
        CREATE TABLE IF NOT EXISTS peers (
            peer_id TEXT PRIMARY KEY,
            public_key BLOB,
            authorized_unix_ms INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS revoked (
            peer_id TEXT PRIMARY KEY,
            revoked_unix_ms INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS bootstrap (
            address TEXT PRIMARY KEY);
        """,
    ];

    private SwarmStore(SqliteConnection db) => _db = db;

    /// <summary>The path of the SQLite file.</summary>
    public string Path { get; private init; } = "";

    /// <summary>Opens (creating when absent) the store at <paramref name="path"/>.</summary>
    /// <exception cref="SqliteException">The file is not an SQLite database or cannot be opened.</exception>
    /// <exception cref="StoreVersionException">The file was written by a newer version of P2PNet; it was left untouched.</exception>
    public static SwarmStore Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        // The file holds swarm keys in clear: it is 0600 whatever mode it had before (created by us, copied in, or
        // left permissive by an older version), and so are SQLite's -wal and -shm files, which hold the same pages.
        SecretFile.CreateOrRestrict(path);
        var db = SqliteSchema.Open(path, Migrations, beforeMigrations: "PRAGMA journal_mode = WAL;");
        var store = new SwarmStore(db) { Path = path };
        SecretFile.Restrict(path + "-wal");
        SecretFile.Restrict(path + "-shm");
        return store;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_lock)
        {
            _db.Dispose();
        }
    }

    internal sealed record SwarmRecord(string SwarmId, PeerId Owner, SwarmRole Role, IReadOnlyList<Multiaddr> OwnerAddresses, bool Joined);

    internal sealed record KeyRecord(SwarmKey Key, DateTimeOffset Created, bool IsCurrent, DateTimeOffset? GraceUntil);

    internal sealed record AuthorizedPeer(PeerId Peer, PublicKey? PublicKey, DateTimeOffset Authorized);

    internal SwarmRecord? ReadSwarm()
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand("SELECT swarm_id, owner, role, owner_addresses, joined FROM swarm WHERE singleton = 1");
            using var reader = command.ExecuteReader();
            if (!reader.Read())
            {
                return null;
            }
            var addresses = reader.GetString(3).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(Multiaddr.Parse).ToArray();
            return new SwarmRecord(reader.GetString(0), PeerId.Parse(reader.GetString(1)), Enum.Parse<SwarmRole>(reader.GetString(2)), addresses, reader.GetInt64(4) != 0);
        }
    }

    internal void CreateSwarm(string swarmId, PeerId owner, SwarmRole role, IEnumerable<Multiaddr> ownerAddresses, DateTimeOffset now)
    {
        Execute("INSERT INTO swarm (singleton, swarm_id, owner, role, owner_addresses, created_unix_ms) VALUES (1, $id, $owner, $role, $addresses, $now)",
            ("$id", swarmId), ("$owner", owner.ToString()), ("$role", role.ToString()),
            ("$addresses", string.Join('\n', ownerAddresses)), ("$now", now.ToUnixTimeMilliseconds()));
    }

    internal void SetJoined(bool joined) => Execute("UPDATE swarm SET joined = $joined", ("$joined", joined ? 1 : 0));

    internal void SetOwnerAddresses(IEnumerable<Multiaddr> addresses) =>
        Execute("UPDATE swarm SET owner_addresses = $addresses", ("$addresses", string.Join('\n', addresses)));

    internal IReadOnlyList<KeyRecord> ReadKeys()
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand("SELECT key_file, created_unix_ms, is_current, grace_until_unix_ms FROM keys ORDER BY created_unix_ms DESC");
            using var reader = command.ExecuteReader();
            var keys = new List<KeyRecord>();
            while (reader.Read())
            {
                keys.Add(new KeyRecord(
                    SwarmKey.Parse(Encoding.ASCII.GetBytes(reader.GetString(0))),
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)),
                    reader.GetInt64(2) != 0,
                    reader.IsDBNull(3) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3))));
            }
            return keys;
        }
    }

    /// <summary>Makes <paramref name="key"/> current; the previous current key stays accepted until <paramref name="previousGraceUntil"/> (dropped when null).</summary>
    internal void SetCurrentKey(SwarmKey key, DateTimeOffset now, DateTimeOffset? previousGraceUntil)
    {
        lock (_lock)
        {
            using var transaction = _db.BeginTransaction();
            if (previousGraceUntil is { } until)
            {
                Execute("UPDATE keys SET is_current = 0, grace_until_unix_ms = $until WHERE is_current = 1", ("$until", until.ToUnixTimeMilliseconds()));
            }
            else
            {
                Execute("DELETE FROM keys WHERE is_current = 1");
            }
            Execute("DELETE FROM keys WHERE fingerprint = $fp", ("$fp", key.FingerprintHex));
            Execute("INSERT INTO keys (fingerprint, key_file, created_unix_ms, is_current) VALUES ($fp, $file, $now, 1)",
                ("$fp", key.FingerprintHex), ("$file", key.ToFileText()), ("$now", now.ToUnixTimeMilliseconds()));
            transaction.Commit();
        }
    }

    /// <summary>Forgets previous keys whose grace period ended by <paramref name="now"/>.</summary>
    internal void DropExpiredKeys(DateTimeOffset now) =>
        Execute("DELETE FROM keys WHERE is_current = 0 AND (grace_until_unix_ms IS NULL OR grace_until_unix_ms <= $now)", ("$now", now.ToUnixTimeMilliseconds()));

    internal void ClearKeys() => Execute("DELETE FROM keys");

    internal IReadOnlyList<AuthorizedPeer> ReadPeers()
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand("SELECT peer_id, public_key, authorized_unix_ms FROM peers ORDER BY authorized_unix_ms, peer_id");
            using var reader = command.ExecuteReader();
            var peers = new List<AuthorizedPeer>();
            while (reader.Read())
            {
                peers.Add(new AuthorizedPeer(
                    PeerId.Parse(reader.GetString(0)),
                    reader.IsDBNull(1) ? null : PublicKey.FromProtobuf((byte[])reader.GetValue(1)),
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2))));
            }
            return peers;
        }
    }

    internal void AddPeer(PeerId peer, PublicKey? publicKey, DateTimeOffset now)
    {
        lock (_lock)
        {
            using var transaction = _db.BeginTransaction();
            Execute("DELETE FROM revoked WHERE peer_id = $peer", ("$peer", peer.ToString()));
            Execute("INSERT INTO peers (peer_id, public_key, authorized_unix_ms) VALUES ($peer, $key, $now) ON CONFLICT (peer_id) DO UPDATE SET public_key = COALESCE(excluded.public_key, public_key)",
                ("$peer", peer.ToString()), ("$key", publicKey?.ToProtobuf()), ("$now", now.ToUnixTimeMilliseconds()));
            transaction.Commit();
        }
    }

    internal void SetPeerPublicKey(PeerId peer, PublicKey publicKey) =>
        Execute("UPDATE peers SET public_key = $key WHERE peer_id = $peer", ("$peer", peer.ToString()), ("$key", publicKey.ToProtobuf()));

    /// <summary>Removes <paramref name="peer"/> from the authorised peers and records it as revoked; false when it was not authorised.</summary>
    internal bool RevokePeer(PeerId peer, DateTimeOffset now)
    {
        lock (_lock)
        {
            using var transaction = _db.BeginTransaction();
            int removed = Execute("DELETE FROM peers WHERE peer_id = $peer", ("$peer", peer.ToString()));
            Execute("INSERT OR REPLACE INTO revoked (peer_id, revoked_unix_ms) VALUES ($peer, $now)", ("$peer", peer.ToString()), ("$now", now.ToUnixTimeMilliseconds()));
            transaction.Commit();
            return removed > 0;
        }
    }

    internal IReadOnlyList<PeerId> ReadRevoked()
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand("SELECT peer_id FROM revoked ORDER BY revoked_unix_ms");
            using var reader = command.ExecuteReader();
            var peers = new List<PeerId>();
            while (reader.Read())
            {
                peers.Add(PeerId.Parse(reader.GetString(0)));
            }
            return peers;
        }
    }

    internal IReadOnlyList<Multiaddr> ReadBootstrap()
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand("SELECT address FROM bootstrap ORDER BY rowid");
            using var reader = command.ExecuteReader();
            var addresses = new List<Multiaddr>();
            while (reader.Read())
            {
                addresses.Add(Multiaddr.Parse(reader.GetString(0)));
            }
            return addresses;
        }
    }

    internal void SetBootstrap(IEnumerable<Multiaddr> addresses)
    {
        lock (_lock)
        {
            using var transaction = _db.BeginTransaction();
            Execute("DELETE FROM bootstrap");
            foreach (var address in addresses.Distinct())
            {
                Execute("INSERT OR IGNORE INTO bootstrap (address) VALUES ($address)", ("$address", address.ToString()));
            }
            transaction.Commit();
        }
    }

    private int Execute(string sql, params (string Name, object? Value)[] parameters)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand(sql, parameters);
            return command.ExecuteNonQuery();
        }
    }
}
