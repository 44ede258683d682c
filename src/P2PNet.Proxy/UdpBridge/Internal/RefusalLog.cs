using Microsoft.Extensions.Logging;

namespace P2PNet.Proxy.UdpBridge.Internal;

/// <summary>
/// Logs refused connections at a bounded rate: a flood of refusals (the situation the limits exist for) must not
/// become a flood of log lines. At most <see cref="PerSecond"/> lines a second; the next line says how many were skipped.
/// </summary>
/// <remarks>Thread-safe; the metrics count every refusal regardless.</remarks>
internal sealed class RefusalLog(ILogger logger, TimeProvider timeProvider)
{
    /// <summary>Most refusal lines logged per second.</summary>
    public const int PerSecond = 10;

    private readonly Lock _lock = new();
    private long _windowStart = long.MinValue;
    private int _loggedInWindow;
    private long _suppressed;

    /// <summary>Logs one refusal, or counts it as suppressed when this second's lines are spent.</summary>
    public void Refused(string? remote, string reason)
    {
        if (!logger.IsEnabled(LogLevel.Information))
        {
            return;
        }

        long suppressed;
        lock (_lock)
        {
            long now = timeProvider.GetTimestamp();
            if (_windowStart == long.MinValue || timeProvider.GetElapsedTime(_windowStart, now) >= TimeSpan.FromSeconds(1))
            {
                _windowStart = now;
                _loggedInWindow = 0;
            }

            if (_loggedInWindow >= PerSecond)
            {
                _suppressed++;
                return;
            }

            _loggedInWindow++;
            suppressed = _suppressed;
            _suppressed = 0;
        }

        logger.Rejected(remote, reason, suppressed);
    }
}
