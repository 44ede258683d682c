using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Protocols.Dht.Internal;

/// <summary>Provider records: key → the peers that provide it, with their addresses, each until the TTL runs out.
/// Bounded: the most recent <see cref="KadDhtOptions.MaxProvidersPerKey"/> per key, <see cref="KadDhtOptions.MaxProviderKeys"/> keys.</summary>
/// <remarks>Thread-safe; in memory (persistence is not built yet).</remarks>
internal sealed class ProviderStore(KadDhtOptions options, TimeProvider time)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Dictionary<PeerId, (Multiaddr[] Addresses, DateTimeOffset Expires)>> _byKey = new(StringComparer.Ordinal);

    /// <summary>Records <paramref name="peer"/> as a provider of <paramref name="key"/>; false when the store is full.</summary>
    public bool Add(byte[] key, PeerId peer, IReadOnlyList<Multiaddr> addresses)
    {
        string id = Convert.ToHexString(key);
        DateTimeOffset now = time.GetUtcNow();
        lock (_lock)
        {
            if (!_byKey.TryGetValue(id, out var providers))
            {
                if (_byKey.Count >= options.MaxProviderKeys)
                {
                    Expire(now);
                    if (_byKey.Count >= options.MaxProviderKeys)
                    {
                        return false;
                    }
                }
                providers = [];
                _byKey[id] = providers;
            }
            providers[peer] = ([.. addresses.Take(16)], now + options.ProviderTtl);
            while (providers.Count > options.MaxProvidersPerKey)
            {
                providers.Remove(providers.MinBy(p => p.Value.Expires).Key);
            }
            return true;
        }
    }

    /// <summary>The providers of <paramref name="key"/> whose records have not expired.</summary>
    public IReadOnlyList<DhtProvider> Get(byte[] key)
    {
        DateTimeOffset now = time.GetUtcNow();
        lock (_lock)
        {
            return _byKey.TryGetValue(Convert.ToHexString(key), out var providers)
                ? [.. providers.Where(p => p.Value.Expires > now).Select(p => new DhtProvider(p.Key, p.Value.Addresses))]
                : [];
        }
    }

    private void Expire(DateTimeOffset now)
    {
        foreach (var (key, providers) in _byKey.ToArray())
        {
            foreach (var stale in providers.Where(p => p.Value.Expires <= now).Select(p => p.Key).ToArray())
            {
                providers.Remove(stale);
            }
            if (providers.Count == 0)
            {
                _byKey.Remove(key);
            }
        }
    }
}
