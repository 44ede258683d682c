using System.Security.Cryptography;
using System.Text;
using Microsoft.Data.Sqlite;
using P2PNet.Storage;
using P2PNet.Storage.Internal;

namespace P2PNet.Proxy.Tunnels;

/// <summary>
/// The tunnel server's SQLite database: device tokens (hashed at rest, each bound to one device name, revocable), the
/// last assignments of each device's services (so a device that comes back gets the same ports), and the live status
/// the server writes for <c>p2pnet tunnel status</c>.
/// </summary>
/// <remarks>
/// Thread-safe: one connection behind a lock. Several processes may open the same file (the server, and the CLI's
/// <c>token new</c>/<c>revoke</c>/<c>status</c>): the database runs in WAL mode with a busy timeout.
/// A token is 32 random bytes in base64url; only its SHA-256 is stored, so a copy of the database lets nobody register.
/// </remarks>
public sealed class TunnelTokenStore : IDisposable
{
    private readonly SqliteConnection _db;
    private readonly Lock _lock = new();

    private TunnelTokenStore(SqliteConnection db, string path)
    {
        _db = db;
        Path = path;
    }

    /// <summary>The path of the SQLite file.</summary>
    public string Path { get; }

    /// <summary>The schema, one migration per version (<c>PRAGMA user_version</c>, see Core's SqliteSchema). Version 1
    /// is the schema written before versions were recorded, hence <c>IF NOT EXISTS</c>.</summary>
    internal static readonly string[] Migrations =
    [
        """
        CREATE TABLE IF NOT EXISTS tokens (
            device TEXT PRIMARY KEY,
            token_hash BLOB NOT NULL UNIQUE,
            created_unix_ms INTEGER NOT NULL,
            revoked_unix_ms INTEGER);
        CREATE TABLE IF NOT EXISTS assignments (
            device TEXT NOT NULL,
            service TEXT NOT NULL,
            kind TEXT NOT NULL,
            port INTEGER NOT NULL,
            PRIMARY KEY (device, service));
        CREATE TABLE IF NOT EXISTS status (
            device TEXT NOT NULL,
            service TEXT NOT NULL,
            kind TEXT NOT NULL,
            address TEXT NOT NULL,
            peer_id TEXT NOT NULL,
            online INTEGER NOT NULL,
            active INTEGER NOT NULL,
            connections INTEGER NOT NULL,
            bytes_in INTEGER NOT NULL,
            bytes_out INTEGER NOT NULL,
            rate_in REAL NOT NULL,
            rate_out REAL NOT NULL,
            updated_unix_ms INTEGER NOT NULL,
            PRIMARY KEY (device, service));
        """,
    ];

    /// <summary>Opens (creating when absent) the database at <paramref name="path"/> and brings its schema up to date.</summary>
    /// <exception cref="SqliteException">The file is not an SQLite database or cannot be opened.</exception>
    /// <exception cref="StoreVersionException">The file was written by a newer version of P2PNet; it was left untouched.</exception>
    public static TunnelTokenStore Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        // Several processes share the file (the server and the CLI): wait for a lock rather than fail, and let
        // readers and the writer run side by side (WAL).
        var db = SqliteSchema.Open(path, Migrations, beforeMigrations: """
            PRAGMA busy_timeout = 10000;
            PRAGMA journal_mode = WAL;
            """);
        return new TunnelTokenStore(db, path);
    }

    /// <summary>Issues a new token bound to <paramref name="device"/>; the token is returned once and stored only hashed.</summary>
    /// <exception cref="ArgumentException"><paramref name="device"/> is not a valid device name (see <see cref="TunnelNames.IsValidLabel"/>).</exception>
    /// <exception cref="TunnelRegistrationException">A token for <paramref name="device"/> exists and is not revoked
    /// (<see cref="TunnelStatusCode.NameTaken"/>).</exception>
    public string CreateToken(string device)
    {
        TunnelNames.ThrowIfInvalid(device, nameof(device));
        byte[] secret = RandomNumberGenerator.GetBytes(32);
        string token = Convert.ToBase64String(secret).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        CryptographicOperations.ZeroMemory(secret);
        lock (_lock)
        {
            using var tx = _db.BeginTransaction();
            long? revoked = null;
            bool exists = false;
            using (var query = _db.CreateCommand("SELECT revoked_unix_ms FROM tokens WHERE device = $d", ("$d", device)))
            using (var reader = query.ExecuteReader())
            {
                if (reader.Read())
                {
                    exists = true;
                    revoked = reader.IsDBNull(0) ? null : reader.GetInt64(0);
                }
            }
            if (exists && revoked is null)
            {
                throw new TunnelRegistrationException(TunnelStatusCode.NameTaken,
                    $"name taken: device '{device}' already has a token (revoke it first to issue a new one)");
            }
            using var insert = _db.CreateCommand("""
                INSERT INTO tokens (device, token_hash, created_unix_ms, revoked_unix_ms) VALUES ($d, $h, $t, NULL)
                ON CONFLICT (device) DO UPDATE SET token_hash = $h, created_unix_ms = $t, revoked_unix_ms = NULL
                """, ("$d", device), ("$h", Hash(token)), ("$t", Now()));
            insert.ExecuteNonQuery();
            tx.Commit();
        }
        return token;
    }

    /// <summary>Revokes the token of <paramref name="device"/>; a server using this file cuts the device off.</summary>
    /// <returns><see langword="false"/> when the device has no unrevoked token.</returns>
    public bool Revoke(string device)
    {
        ArgumentNullException.ThrowIfNull(device);
        lock (_lock)
        {
            using var update = _db.CreateCommand("UPDATE tokens SET revoked_unix_ms = $t WHERE device = $d AND revoked_unix_ms IS NULL",
                ("$t", Now()), ("$d", device));
            return update.ExecuteNonQuery() > 0;
        }
    }

    /// <summary>The device a token is bound to, or <see langword="null"/> when the token is unknown or revoked.</summary>
    public string? FindDevice(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        lock (_lock)
        {
            using var query = _db.CreateCommand("SELECT device FROM tokens WHERE token_hash = $h AND revoked_unix_ms IS NULL", ("$h", Hash(token)));
            return query.ExecuteScalar() as string;
        }
    }

    /// <summary>Whether <paramref name="device"/> has an unrevoked token.</summary>
    public bool IsActive(string device)
    {
        lock (_lock)
        {
            using var query = _db.CreateCommand("SELECT 1 FROM tokens WHERE device = $d AND revoked_unix_ms IS NULL", ("$d", device));
            return query.ExecuteScalar() is not null;
        }
    }

    /// <summary>Every device with a token: its name, when the token was issued, and whether it is revoked.</summary>
    public IReadOnlyList<TunnelTokenInfo> ListTokens()
    {
        lock (_lock)
        {
            using var query = _db.CreateCommand("SELECT device, created_unix_ms, revoked_unix_ms FROM tokens ORDER BY device");
            using var reader = query.ExecuteReader();
            var list = new List<TunnelTokenInfo>();
            while (reader.Read())
            {
                list.Add(new TunnelTokenInfo(reader.GetString(0), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)),
                    reader.IsDBNull(2) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2))));
            }
            return list;
        }
    }

    /// <summary>The live status the server last wrote (rows of devices that are offline stay, marked so).</summary>
    public IReadOnlyList<TunnelStatus> ReadStatus()
    {
        lock (_lock)
        {
            using var query = _db.CreateCommand("""
                SELECT device, service, kind, address, peer_id, online, active, connections, bytes_in, bytes_out, rate_in,
                       rate_out, updated_unix_ms
                FROM status ORDER BY device, service
                """);
            using var reader = query.ExecuteReader();
            var list = new List<TunnelStatus>();
            while (reader.Read())
            {
                list.Add(new TunnelStatus
                {
                    Device = reader.GetString(0),
                    Service = reader.GetString(1),
                    Kind = Enum.Parse<TunnelServiceKind>(reader.GetString(2)),
                    Address = reader.GetString(3),
                    PeerId = reader.GetString(4),
                    Online = reader.GetInt64(5) != 0,
                    ActiveConnections = reader.GetInt64(6),
                    TotalConnections = reader.GetInt64(7),
                    BytesIn = reader.GetInt64(8),
                    BytesOut = reader.GetInt64(9),
                    BytesInPerSecond = reader.GetDouble(10),
                    BytesOutPerSecond = reader.GetDouble(11),
                    Updated = DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(12)),
                });
            }
            return list;
        }
    }

    /// <summary>Replaces the status table with <paramref name="rows"/> (the server calls this periodically).</summary>
    internal void WriteStatus(IReadOnlyList<TunnelStatus> rows)
    {
        lock (_lock)
        {
            using var tx = _db.BeginTransaction();
            using (var clear = _db.CreateCommand("UPDATE status SET online = 0, active = 0, rate_in = 0, rate_out = 0"))
            {
                clear.ExecuteNonQuery();
            }
            foreach (var row in rows)
            {
                using var upsert = _db.CreateCommand("""
                    INSERT OR REPLACE INTO status VALUES ($d, $s, $k, $a, $p, $o, $ac, $c, $bi, $bo, $ri, $ro, $u)
                    """, ("$d", row.Device), ("$s", row.Service), ("$k", row.Kind.ToString()), ("$a", row.Address),
                    ("$p", row.PeerId), ("$o", row.Online ? 1 : 0), ("$ac", row.ActiveConnections), ("$c", row.TotalConnections),
                    ("$bi", row.BytesIn), ("$bo", row.BytesOut), ("$ri", row.BytesInPerSecond), ("$ro", row.BytesOutPerSecond),
                    ("$u", row.Updated.ToUnixTimeMilliseconds()));
                upsert.ExecuteNonQuery();
            }
            tx.Commit();
        }
    }

    /// <summary>The port last assigned to a device's TCP or UDP service, if any.</summary>
    internal int? LastPort(string device, string service, TunnelServiceKind kind)
    {
        lock (_lock)
        {
            using var query = _db.CreateCommand("SELECT port FROM assignments WHERE device = $d AND service = $s AND kind = $k",
                ("$d", device), ("$s", service), ("$k", kind.ToString()));
            return query.ExecuteScalar() is long port ? (int)port : null;
        }
    }

    /// <summary>Remembers the port assigned to a device's service.</summary>
    internal void SavePort(string device, string service, TunnelServiceKind kind, int port)
    {
        lock (_lock)
        {
            using var upsert = _db.CreateCommand("INSERT OR REPLACE INTO assignments VALUES ($d, $s, $k, $p)",
                ("$d", device), ("$s", service), ("$k", kind.ToString()), ("$p", port));
            upsert.ExecuteNonQuery();
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_lock)
        {
            _db.Dispose();
        }
    }

    private static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
}
