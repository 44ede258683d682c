namespace P2PNet.Proxy.Tunnels.Internal;

/// <summary>What one tunnel carried: counters updated by its pumps (lock-free) and its optional rate limits.</summary>
internal sealed class TunnelTraffic(ByteRateLimiter? inLimiter, ByteRateLimiter? outLimiter, TunnelMetrics? metrics, string device, string service)
{
    private long _bytesIn;
    private long _bytesOut;
    private long _active;
    private long _total;

    public ByteRateLimiter? InLimiter => inLimiter;

    public ByteRateLimiter? OutLimiter => outLimiter;

    public long BytesIn => Interlocked.Read(ref _bytesIn);

    public long BytesOut => Interlocked.Read(ref _bytesOut);

    public long Active => Interlocked.Read(ref _active);

    public long Total => Interlocked.Read(ref _total);

    /// <summary>Counts a new connection unless <paramref name="limit"/> are open already.</summary>
    public bool TryOpen(int limit)
    {
        if (Interlocked.Increment(ref _active) > limit)
        {
            Interlocked.Decrement(ref _active);
            metrics?.Refused(device, service);
            return false;
        }
        Interlocked.Increment(ref _total);
        metrics?.Opened(device, service);
        return true;
    }

    public void Closed()
    {
        Interlocked.Decrement(ref _active);
        metrics?.Closed(device, service);
    }

    public void AddIn(int bytes)
    {
        Interlocked.Add(ref _bytesIn, bytes);
        metrics?.Bytes(device, service, bytes, inbound: true);
    }

    public void AddOut(int bytes)
    {
        Interlocked.Add(ref _bytesOut, bytes);
        metrics?.Bytes(device, service, bytes, inbound: false);
    }
}
