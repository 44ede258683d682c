namespace P2PNet.Swarm.Internal;

/// <summary>Nonces seen within the freshness window, to refuse replays. Bounded: when full of unexpired nonces it
/// refuses new ones (the caller answers "busy") rather than forgetting one and allowing its replay.</summary>
/// <remarks>
/// Admission is fair per requester: one requester holds at most <c>perRequester</c> unexpired nonces, so an
/// authorised peer that floods requests is refused as busy itself while the others keep their share of
/// <c>capacity</c> (with capacity ≥ requesters × perRequester, no one is ever refused because of another).
/// Thread-safe.
/// </remarks>
internal sealed class NonceCache
{
    private readonly Dictionary<string, Entry> _seen = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _perRequester = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly int _capacity;
    private readonly int _perRequesterQuota;

    public NonceCache(int capacity, int perRequester)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(perRequester, 1);
        _capacity = capacity;
        _perRequesterQuota = Math.Min(perRequester, capacity);
    }

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

    /// <summary>Records <paramref name="nonce"/> of <paramref name="requester"/> until <paramref name="expires"/>.</summary>
    public Result TryAdd(string requester, ReadOnlySpan<byte> nonce, DateTimeOffset expires, DateTimeOffset now)
    {
        string key = Convert.ToHexString(nonce);
        lock (_lock)
        {
            if (_seen.TryGetValue(key, out var entry) && entry.Until >= now)
            {
                return Result.Replayed;
            }
            if (_seen.Count >= _capacity || _perRequester.GetValueOrDefault(requester) >= _perRequesterQuota)
            {
                DropExpired(now);
                if (_seen.Count >= _capacity || _perRequester.GetValueOrDefault(requester) >= _perRequesterQuota)
                {
                    return Result.Full;
                }
            }
            if (_seen.Remove(key, out var stale))
            {
                Release(stale.Requester);
            }
            _seen[key] = new Entry(expires, requester);
            _perRequester[requester] = _perRequester.GetValueOrDefault(requester) + 1;
            return Result.Added;
        }
    }

    private void DropExpired(DateTimeOffset now)
    {
        foreach (var (key, entry) in _seen.Where(p => p.Value.Until < now).ToArray())
        {
            _seen.Remove(key);
            Release(entry.Requester);
        }
    }

    private void Release(string requester)
    {
        int left = _perRequester[requester] - 1;
        if (left == 0)
        {
            _perRequester.Remove(requester);
        }
        else
        {
            _perRequester[requester] = left;
        }
    }

    private readonly record struct Entry(DateTimeOffset Until, string Requester);
}
