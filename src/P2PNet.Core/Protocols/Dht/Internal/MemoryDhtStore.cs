using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Protocols.Dht.Internal;

/// <summary>The default <see cref="IDhtStore"/>: dictionaries in memory, bounded as the options say, gone at exit.</summary>
internal sealed class MemoryDhtStore(KadDhtOptions options) : IDhtStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Dictionary<PeerId, (Multiaddr[] Addresses, DateTimeOffset Expires)>> _providers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, StoredRecord> _records = new(StringComparer.Ordinal);

    public int RecordCount
    {
        get
        {
            lock (_lock)
            {
                return _records.Count;
            }
        }
    }

    public int ProviderKeyCount
    {
        get
        {
            lock (_lock)
            {
                return _providers.Count;
            }
        }
    }

    public void Open()
    {
    }

    public bool AddProvider(byte[] key, PeerId peer, IReadOnlyList<Multiaddr> addresses, DateTimeOffset expires, DateTimeOffset now)
    {
        string id = Convert.ToHexString(key);
        lock (_lock)
        {
            if (!_providers.TryGetValue(id, out var providers))
            {
                if (_providers.Count >= options.MaxProviderKeys)
                {
                    RemoveExpiredLocked(now);
                    if (_providers.Count >= options.MaxProviderKeys)
                    {
                        return false;
                    }
                }
                providers = [];
                _providers[id] = providers;
            }
            providers[peer] = ([.. addresses.Take(16)], expires);
            while (providers.Count > options.MaxProvidersPerKey)
            {
                providers.Remove(providers.MinBy(p => p.Value.Expires).Key);
            }
            return true;
        }
    }

    public IReadOnlyList<DhtProvider> GetProviders(byte[] key, DateTimeOffset now)
    {
        lock (_lock)
        {
            return _providers.TryGetValue(Convert.ToHexString(key), out var providers)
                ? [.. providers.Where(p => p.Value.Expires > now).Select(p => new DhtProvider(p.Key, p.Value.Addresses))]
                : [];
        }
    }

    public bool PutRecord(StoredRecord record, DateTimeOffset now)
    {
        string id = Convert.ToHexString(record.Key);
        lock (_lock)
        {
            if (!_records.ContainsKey(id) && _records.Count >= options.MaxRecords)
            {
                RemoveExpiredLocked(now);
                if (_records.Count >= options.MaxRecords)
                {
                    return false;
                }
            }
            _records[id] = record;
            return true;
        }
    }

    public StoredRecord? GetRecord(byte[] key, DateTimeOffset now)
    {
        lock (_lock)
        {
            return _records.TryGetValue(Convert.ToHexString(key), out var record) && record.Expires > now ? record : null;
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
    }

    private int RemoveExpiredLocked(DateTimeOffset now)
    {
        int removed = 0;
        foreach (var (key, providers) in _providers.ToArray())
        {
            foreach (var stale in providers.Where(p => p.Value.Expires <= now).Select(p => p.Key).ToArray())
            {
                providers.Remove(stale);
                removed++;
            }
            if (providers.Count == 0)
            {
                _providers.Remove(key);
            }
        }
        foreach (var (key, record) in _records.ToArray())
        {
            if (record.Expires <= now)
            {
                _records.Remove(key);
                removed++;
            }
        }
        return removed;
    }
}
