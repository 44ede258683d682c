namespace P2PNet.Testing.Soak;

/// <summary>Settings of a fault-injection soak run (<see cref="SoakRun"/>).</summary>
public sealed class SoakOptions
{
    /// <summary>Hosts in this process: they send the traffic, and all but the first are faulted. Default 8.</summary>
    public int InProcessNodes { get; set; } = 8;

    /// <summary><c>p2pnet node</c> child processes: traffic targets that are SIGKILLed, restarted and SIGSTOPped. Default 4.</summary>
    public int ProcessNodes { get; set; } = 4;

    /// <summary>How long traffic and faults run. Default 3 minutes.</summary>
    public TimeSpan Duration { get; set; } = TimeSpan.FromMinutes(3);

    /// <summary>Pause between one fault ending and the next starting. Default 1 s.</summary>
    public TimeSpan FaultInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Concurrent traffic loops. Default 16.</summary>
    public int Senders { get; set; } = 16;

    /// <summary>Largest echo message; sizes are uniform in 1..this. Default 64 KiB.</summary>
    public int MaxMessageBytes { get; set; } = 64 * 1024;

    /// <summary>One delivery attempt (dial + echo) is given up after this and retried. Default 10 s.</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>After traffic stops, how long messages still in flight may take before they count as lost. Default 60 s.</summary>
    public TimeSpan RecoveryWindow { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a SIGSTOPped node stays stopped. Default 3 s.</summary>
    public TimeSpan StallDuration { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Raw TCP sockets opened by one garbage flood. Default 64.</summary>
    public int FloodSockets { get; set; } = 64;

    /// <summary>Streams opened (and never read) by one stalled-reader attack. Default 16.</summary>
    public int StalledStreams { get; set; } = 16;

    /// <summary>Seed of the run's choices (printed in the report so a run can be repeated). Default: random.</summary>
    public int Seed { get; set; } = Random.Shared.Next();

    /// <summary>Receives a line per fault and per phase; none by default.</summary>
    public Action<string>? Log { get; set; }
}
