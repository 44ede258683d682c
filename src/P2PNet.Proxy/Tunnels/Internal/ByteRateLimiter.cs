namespace P2PNet.Proxy.Tunnels.Internal;

/// <summary>
/// A bytes-per-second limit shared by every connection of one tunnel in one direction: a token bucket holding at most one
/// second's worth. A sender takes what it sends (going into debt for a large read) and waits until the debt is paid,
/// so the average never exceeds the rate and a slow tunnel never makes memory grow (the pumps stop reading meanwhile).
/// </summary>
/// <remarks>Thread-safe.</remarks>
internal sealed class ByteRateLimiter(long bytesPerSecond, TimeProvider timeProvider)
{
    private readonly Lock _lock = new();
    private double _tokens = bytesPerSecond;
    private long _last = timeProvider.GetTimestamp();

    public long BytesPerSecond => bytesPerSecond;

    /// <summary>Takes <paramref name="bytes"/> and waits as long as the bucket is in debt.</summary>
    public ValueTask WaitAsync(int bytes, CancellationToken cancellationToken)
    {
        TimeSpan wait;
        lock (_lock)
        {
            long now = timeProvider.GetTimestamp();
            _tokens = Math.Min(bytesPerSecond, _tokens + (double)(now - _last) * bytesPerSecond / timeProvider.TimestampFrequency);
            _last = now;
            _tokens -= bytes;
            if (_tokens >= 0)
            {
                return ValueTask.CompletedTask;
            }
            wait = TimeSpan.FromSeconds(-_tokens / bytesPerSecond);
        }
        return new ValueTask(Task.Delay(wait, timeProvider, cancellationToken));
    }
}
