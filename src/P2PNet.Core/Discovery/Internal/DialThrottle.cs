namespace P2PNet.Discovery.Internal;

/// <summary>
/// Caps dials started by discovery: at most <c>maxConcurrent</c> in flight and <c>maxPerInterval</c> started per
/// interval (a fixed window on the injected clock). A discovered peer refused now is offered again by the next
/// announcement, so nothing is queued and memory does not grow with the number of peers announced.
/// </summary>
/// <remarks>Thread-safe.</remarks>
internal sealed class DialThrottle
{
    private readonly int _maxConcurrent;
    private readonly int _maxPerInterval;
    private readonly TimeSpan _interval;
    private readonly TimeProvider _time;
    private readonly Lock _sync = new();
    private int _inFlight;
    private int _startedInWindow;
    private long _windowStart;

    public DialThrottle(int maxConcurrent, int maxPerInterval, TimeSpan interval, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxConcurrent, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPerInterval, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        _maxConcurrent = maxConcurrent;
        _maxPerInterval = maxPerInterval;
        _interval = interval;
        _time = time;
        _windowStart = time.GetTimestamp();
    }

    /// <summary>Dials in flight now.</summary>
    public int InFlight
    {
        get
        {
            lock (_sync)
            {
                return _inFlight;
            }
        }
    }

    /// <summary>Takes a dial slot; <see langword="false"/> when too many dials are in flight or were started this interval.</summary>
    /// <remarks>Every <see langword="true"/> must be matched by one <see cref="Complete"/>.</remarks>
    public bool TryStart()
    {
        long now = _time.GetTimestamp();
        lock (_sync)
        {
            if (_time.GetElapsedTime(_windowStart, now) >= _interval)
            {
                _windowStart = now;
                _startedInWindow = 0;
            }

            if (_inFlight >= _maxConcurrent || _startedInWindow >= _maxPerInterval)
            {
                return false;
            }

            _inFlight++;
            _startedInWindow++;
            return true;
        }
    }

    /// <summary>A dial started by <see cref="TryStart"/> ended.</summary>
    public void Complete()
    {
        lock (_sync)
        {
            _inFlight--;
        }
    }
}
