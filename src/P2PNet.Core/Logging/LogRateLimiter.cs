namespace P2PNet.Logging;

/// <summary>
/// Bounds how many lines a category of log messages writes per interval, so that a hostile or broken peer cannot flood
/// the log (and the disk behind it) by repeating what triggers a warning. The first line after a quiet spell reports
/// how many lines were suppressed meanwhile.
/// </summary>
/// <remarks>
/// Thread-safe. Categories are the caller's constant strings (one per log site), never peer-controlled text, so the table
/// stays small. Usage: <c>if (limiter.TryAcquire("yamux.refused", out long suppressed)) { Log.X(logger, ..., suppressed); }</c>.
/// </remarks>
internal sealed class LogRateLimiter
{
    private readonly int _linesPerInterval;
    private readonly TimeSpan _interval;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, Window> _windows = new(StringComparer.Ordinal);
    private readonly Lock _sync = new();

    /// <summary>Creates a limiter allowing <paramref name="linesPerInterval"/> lines per category per <paramref name="interval"/>.</summary>
    public LogRateLimiter(int linesPerInterval, TimeSpan interval, TimeProvider? timeProvider = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(linesPerInterval, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        _linesPerInterval = linesPerInterval;
        _interval = interval;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>
    /// One limiter for code that has no host to take one from (e.g. a Yamux session used on its own): 10 lines per category
    /// every 10 s.
    /// </summary>
    public static LogRateLimiter Shared { get; } = new(10, TimeSpan.FromSeconds(10));

    /// <summary>Whether a line of <paramref name="category"/> may be written now.</summary>
    /// <param name="category">A constant naming the log site.</param>
    /// <param name="suppressed">When allowed: lines of this category dropped since the last line written (0 usually).</param>
    public bool TryAcquire(string category, out long suppressed)
    {
        long now = _time.GetTimestamp();
        lock (_sync)
        {
            if (!_windows.TryGetValue(category, out Window? window))
            {
                window = new Window { Start = now };
                _windows.Add(category, window);
            }
            else if (_time.GetElapsedTime(window.Start, now) >= _interval)
            {
                window.Start = now;
                window.Count = 0;
            }

            if (window.Count < _linesPerInterval)
            {
                window.Count++;
                suppressed = window.Suppressed;
                window.Suppressed = 0;
                return true;
            }

            window.Suppressed++;
            suppressed = 0;
            return false;
        }
    }

    /// <summary>Lines of <paramref name="category"/> suppressed and not yet reported (for tests).</summary>
    internal long PendingSuppressed(string category)
    {
        lock (_sync)
        {
            return _windows.TryGetValue(category, out Window? window) ? window.Suppressed : 0;
        }
    }

    private sealed class Window
    {
        public long Start;
        public int Count;
        public long Suppressed;
    }
}
