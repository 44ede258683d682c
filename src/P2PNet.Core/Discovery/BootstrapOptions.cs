namespace P2PNet.Discovery;

/// <summary>
/// How a host keeps its bootstrap peers (<see cref="Host.P2PHostOptions.BootstrapPeers"/>) connected: each is dialed at
/// start and, while disconnected, re-dialed after a backoff that doubles from <see cref="InitialBackoff"/> up to
/// <see cref="MaxBackoff"/>, each wait spread by ±<see cref="Jitter"/> so that many nodes do not re-dial in step.
/// </summary>
public sealed class BootstrapOptions
{
    /// <summary>First wait after a failed dial or a lost connection. Default 1 s.</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest wait between dials. Default 60 s.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Random spread of each wait, as a fraction (0 to 1). Default 0.2 (±20 %).</summary>
    public double Jitter { get; set; } = 0.2;

    /// <summary>The wait before attempt <paramref name="failures"/> + 1, jittered with <paramref name="random"/> in [0, 1).</summary>
    public TimeSpan BackoffFor(int failures, double random)
    {
        double baseTicks = Math.Min(MaxBackoff.Ticks, InitialBackoff.Ticks * Math.Pow(2, Math.Clamp(failures, 0, 30)));
        double jitter = Math.Clamp(Jitter, 0, 1);
        double factor = 1 + jitter * (2 * Math.Clamp(random, 0, 1) - 1);
        return TimeSpan.FromTicks((long)Math.Max(0, Math.Min(baseTicks * factor, MaxBackoff.Ticks * (1 + jitter))));
    }
}
