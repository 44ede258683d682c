namespace P2PNet.Proxy.Tunnels.Internal;

/// <summary>
/// Hands out public ports from the server's range: the preferred one (the service's last port) when free, otherwise the
/// lowest free one. A port the operating system refuses (taken by another program) is skipped by the caller through the
/// <c>exclude</c> set. Thread-safe.
/// </summary>
internal sealed class PortAllocator(int first, int last)
{
    private readonly Lock _lock = new();
    private readonly HashSet<int> _used = [];

    public int First => first;

    public int Last => last;

    /// <summary>Reserves <paramref name="preferred"/> if it is in range and free, else the lowest free port; null when exhausted.</summary>
    public int? Allocate(int? preferred, ISet<int>? exclude = null)
    {
        lock (_lock)
        {
            if (preferred is { } p && p >= first && p <= last && !_used.Contains(p) && exclude?.Contains(p) != true)
            {
                _used.Add(p);
                return p;
            }
            for (int port = first; port <= last; port++)
            {
                if (!_used.Contains(port) && exclude?.Contains(port) != true)
                {
                    _used.Add(port);
                    return port;
                }
            }
            return null;
        }
    }

    /// <summary>Whether <paramref name="port"/> is reserved now.</summary>
    public bool IsUsed(int port)
    {
        lock (_lock)
        {
            return _used.Contains(port);
        }
    }

    public void Release(int port)
    {
        lock (_lock)
        {
            _used.Remove(port);
        }
    }
}
