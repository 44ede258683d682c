using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;
using P2PNet.Crypto;
using P2PNet.Host.Internal;
using P2PNet.Multiformats;
using P2PNet.Storage;
using P2PNet.Storage.Internal;

namespace P2PNet.Peers.Internal;

/// <summary>
/// Keeps a <see cref="PeerStore"/> in a SQLite file: opens and loads it when the host starts, then writes changed
/// records in batches from one background loop (owned here, awaited in <see cref="StopAsync"/>, which flushes what is
/// left and closes the file). The constructor touches no file.
/// </summary>
internal sealed class SqlitePeerStorage : IHostService, IAsyncDisposable
{
    /// <summary>The schema, one migration per version (<see cref="SqliteSchema"/>). Version 1 is the table written
    /// before versions were recorded; version 2 indexes the order <see cref="Load"/> reads in.</summary>
    internal static readonly string[] Migrations =
    [
        """
        CREATE TABLE IF NOT EXISTS peers (
            peer_id TEXT PRIMARY KEY,
            public_key BLOB,
            addresses TEXT NOT NULL,
            protocols TEXT NOT NULL,
            agent_version TEXT,
            protocol_version TEXT,
            last_seen_ms INTEGER NOT NULL)
        """,
        "CREATE INDEX IF NOT EXISTS peers_by_last_seen ON peers (last_seen_ms DESC)",
    ];

    private readonly string _path;
    private readonly PeerStore _store;
    private readonly TimeSpan _flushInterval;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<PeerId, PeerRecord> _pending = new();
    private readonly SemaphoreSlim _signal = new(0, 1);
    private readonly CancellationTokenSource _stopping = new();
    private SqliteConnection? _connection;
    private Task? _writer;
    private int _stopped;

    public SqlitePeerStorage(string path, PeerStore store, TimeSpan flushInterval, TimeProvider time)
    {
        _path = path;
        _store = store;
        _flushInterval = flushInterval > TimeSpan.Zero ? flushInterval : TimeSpan.FromSeconds(1);
        _time = time;
    }

    /// <inheritdoc />
    public string Name => "peer store";

    /// <summary>The peers loaded at start, most recently seen first (empty before start).</summary>
    public IReadOnlyList<PeerRecord> Loaded { get; private set; } = [];

    /// <summary>Opens (creating or upgrading) the file, loads it into the store, starts the write loop.</summary>
    /// <exception cref="StoreVersionException">The file was written by a newer version of P2PNet.</exception>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _connection = SqliteSchema.Open(_path, Migrations);
        Loaded = Load();
        _store.Updated += OnUpdated;
        _writer = WriteLoopAsync();
        return Task.CompletedTask;
    }

    /// <summary>Loads every stored peer into the store; returns them, most recently seen first.</summary>
    private List<PeerRecord> Load()
    {
        var records = new List<PeerRecord>();
        using var select = _connection!.CreateCommand();
        select.CommandText = $"SELECT peer_id, public_key, addresses, protocols, agent_version, protocol_version, last_seen_ms FROM peers ORDER BY last_seen_ms DESC LIMIT {PeerStore.MaxPeers}";
        using var reader = select.ExecuteReader();
        while (reader.Read())
        {
            if (!PeerId.TryParse(reader.GetString(0), out var peer))
            {
                continue; // a damaged row is skipped, not fatal
            }
            PublicKey? key = null;
            if (!reader.IsDBNull(1))
            {
                try
                {
                    key = PublicKey.FromProtobuf((byte[])reader.GetValue(1));
                }
                catch (WireFormatException)
                {
                }
            }
            var addresses = reader.GetString(2).Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(a => Multiaddr.TryParse(a, out var m) ? m : null).OfType<Multiaddr>().Take(PeerStore.MaxAddressesPerPeer).ToArray();
            var protocols = reader.GetString(3).Split('\n', StringSplitOptions.RemoveEmptyEntries).Take(PeerStore.MaxProtocolsPerPeer).ToArray();
            records.Add(new PeerRecord(peer, key, addresses, protocols,
                reader.IsDBNull(4) ? null : reader.GetString(4),
                reader.IsDBNull(5) ? null : reader.GetString(5),
                null,
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(6))));
        }
        foreach (var record in records)
        {
            _store.Restore(record);
        }
        return records;
    }

    private void OnUpdated(PeerRecord record)
    {
        _pending[record.Peer] = record;
        try
        {
            if (_signal.CurrentCount == 0)
            {
                _signal.Release();
            }
        }
        catch (SemaphoreFullException)
        {
        }
    }

    private async Task WriteLoopAsync()
    {
        await Task.Yield();
        try
        {
            while (true)
            {
                await _signal.WaitAsync(_stopping.Token).ConfigureAwait(false);
                await Task.Delay(_flushInterval, _time, _stopping.Token).ConfigureAwait(false);
                Flush();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Flush()
    {
        if (_pending.IsEmpty || _connection is null)
        {
            return;
        }
        var batch = new List<PeerRecord>();
        foreach (var peer in _pending.Keys)
        {
            if (_pending.TryRemove(peer, out var record))
            {
                batch.Add(record);
            }
        }
        using var transaction = _connection.BeginTransaction();
        using var upsert = _connection.CreateCommand();
        upsert.Transaction = transaction;
        upsert.CommandText = """
            INSERT INTO peers (peer_id, public_key, addresses, protocols, agent_version, protocol_version, last_seen_ms)
            VALUES ($id, $key, $addresses, $protocols, $agent, $version, $seen)
            ON CONFLICT(peer_id) DO UPDATE SET public_key = excluded.public_key, addresses = excluded.addresses,
                protocols = excluded.protocols, agent_version = excluded.agent_version,
                protocol_version = excluded.protocol_version, last_seen_ms = excluded.last_seen_ms
            """;
        var id = upsert.Parameters.Add("$id", SqliteType.Text);
        var key = upsert.Parameters.Add("$key", SqliteType.Blob);
        var addresses = upsert.Parameters.Add("$addresses", SqliteType.Text);
        var protocols = upsert.Parameters.Add("$protocols", SqliteType.Text);
        var agent = upsert.Parameters.Add("$agent", SqliteType.Text);
        var version = upsert.Parameters.Add("$version", SqliteType.Text);
        var seen = upsert.Parameters.Add("$seen", SqliteType.Integer);
        foreach (var record in batch)
        {
            id.Value = record.Peer.ToString();
            key.Value = record.PublicKey is { } k ? k.ToProtobuf() : DBNull.Value;
            addresses.Value = string.Join('\n', record.Addresses.Select(a => a.ToString()));
            protocols.Value = string.Join('\n', record.Protocols);
            agent.Value = (object?)record.AgentVersion ?? DBNull.Value;
            version.Value = (object?)record.ProtocolVersion ?? DBNull.Value;
            seen.Value = record.LastSeen.ToUnixTimeMilliseconds();
            upsert.ExecuteNonQuery();
        }
        transaction.Commit();
    }

    /// <summary>Stops the write loop, writes what is pending, closes the file.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }
        _store.Updated -= OnUpdated;
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_writer is not null)
        {
            await _writer.ConfigureAwait(false);
        }
        Flush();
        if (_connection is not null)
        {
            await _connection.DisposeAsync().ConfigureAwait(false);
        }
        _stopping.Dispose();
        _signal.Dispose();
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None).ConfigureAwait(false);
}
