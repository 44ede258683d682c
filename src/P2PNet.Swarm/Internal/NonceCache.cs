namespace P2PNet.Swarm.Internal;

/// <summary>Nonces seen within the freshness window, to refuse replays. Bounded: when full of unexpired nonces it
/// refuses new ones (the caller answers "busy") rather than forgetting one and allowing its replay.</summary>
/// <remarks>Thread-safe.</remarks>
internal sealed class NonceCache(int capacity)
{
    private readonly Dictionary<string, DateTimeOffset> _seen = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _seen.Count;
            }
        }
    }

    public enum Result
    {
        Added,
        Replayed,
        Full,
    }

    public Result TryAdd(ReadOnlySpan<byte> nonce, DateTimeOffset expires, DateTimeOffset now)
    {
        string key = Convert.ToHexString(nonce);
        lock (_lock)
        {
            if (_seen.TryGetValue(key, out var until) && until >= now)
            {
                return Result.Replayed;
            }
            if (_seen.Count >= capacity)
            {
                foreach (var stale in _seen.Where(p => p.Value < now).Select(p => p.Key).ToArray())
                {
                    _seen.Remove(stale);
                }
                if (_seen.Count >= capacity)
                {
                    return Result.Full;
                }
            }
            _seen[key] = expires;
            return Result.Added;
        }
    }
}
