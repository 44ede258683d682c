namespace P2PNet.Protocols.PubSub.Internal;

/// <summary>
/// Message ids seen within a time-to-live (pubsub/README.md "The seen cache"), with a hard cap so a flood of
/// distinct ids cannot grow memory without bound. Not thread-safe: the router holds its lock.
/// </summary>
internal sealed class SeenCache(TimeSpan ttl, int capacity)
{
    private readonly Dictionary<string, long> _expiry = new(StringComparer.Ordinal);
    private readonly Queue<(string Id, long Expires)> _order = new();

    public int Count => _expiry.Count;

    public bool Contains(string id) => _expiry.ContainsKey(id);

    /// <summary>Adds <paramref name="id"/>; <see langword="false"/> if it was already there.</summary>
    public bool Add(string id, long now)
    {
        if (_expiry.ContainsKey(id))
        {
            return false;
        }
        while (_expiry.Count >= capacity && _order.TryDequeue(out var oldest))
        {
            _expiry.Remove(oldest.Id);
        }
        long expires = now + (long)ttl.TotalMilliseconds;
        _expiry[id] = expires;
        _order.Enqueue((id, expires));
        return true;
    }

    public void Expire(long now)
    {
        while (_order.TryPeek(out var oldest) && oldest.Expires <= now)
        {
            _order.Dequeue();
            _expiry.Remove(oldest.Id);
        }
    }
}
