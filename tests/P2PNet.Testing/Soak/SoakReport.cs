using System.Globalization;
using System.Text;

namespace P2PNet.Testing.Soak;

/// <summary>The figures of one soak run.</summary>
public sealed class SoakReport
{
    /// <summary>The seed the run used.</summary>
    public int Seed { get; init; }

    /// <summary>Hosts in the harness process.</summary>
    public int InProcessNodes { get; init; }

    /// <summary><c>p2pnet node</c> processes.</summary>
    public int ProcessNodes { get; init; }

    /// <summary>How long traffic and faults ran.</summary>
    public TimeSpan Duration { get; init; }

    /// <summary>Faults injected, by kind.</summary>
    public IReadOnlyDictionary<SoakFault, int> Faults { get; init; } = new Dictionary<SoakFault, int>();

    /// <summary>Echo messages started (each carries a SHA-256 of its payload).</summary>
    public long MessagesSent { get; init; }

    /// <summary>Messages whose echo came back with the right hash.</summary>
    public long MessagesDelivered { get; init; }

    /// <summary>Messages never echoed by the end of the recovery window.</summary>
    public long MessagesLost => MessagesSent - MessagesDelivered - MessagesCorrupted;

    /// <summary>Messages echoed with a wrong hash (must be 0: nothing may corrupt a stream).</summary>
    public long MessagesCorrupted { get; init; }

    /// <summary>Delivery attempts that failed and were retried (a fault in the way).</summary>
    public long Retries { get; init; }

    /// <summary>Most connections held at once by the in-process hosts together.</summary>
    public int PeakConnections { get; init; }

    /// <summary>Connections held by the in-process hosts when the run ended.</summary>
    public int ConnectionsAtEnd { get; init; }

    /// <summary>Peak resident memory of the harness process, in bytes.</summary>
    public long PeakHarnessBytes { get; init; }

    /// <summary>Peak managed heap of the harness process, in bytes.</summary>
    public long PeakManagedBytes { get; init; }

    /// <summary>Highest peak resident memory of any <c>p2pnet node</c> process (VmHWM), in bytes.</summary>
    public long PeakProcessNodeBytes { get; init; }

    /// <summary>Times from a node coming back (restart, SIGCONT) to its first verified echo.</summary>
    public IReadOnlyDictionary<SoakFault, IReadOnlyList<TimeSpan>> Recoveries { get; init; } = new Dictionary<SoakFault, IReadOnlyList<TimeSpan>>();

    /// <summary>Nodes that never answered again after a fault (must be empty).</summary>
    public IReadOnlyList<string> Unrecovered { get; init; } = [];

    /// <summary>The longest a host took to stop (a restarted host, or a stalled-reader attacker with unread streams).</summary>
    public TimeSpan SlowestHostStop { get; init; }

    /// <summary>The figures as a markdown table.</summary>
    public string ToTable()
    {
        var c = CultureInfo.InvariantCulture;
        var b = new StringBuilder();
        b.AppendLine("| figure | value |");
        b.AppendLine("|---|---:|");
        b.AppendLine(c, $"| nodes (in-process hosts + `p2pnet node` processes) | {InProcessNodes} + {ProcessNodes} |");
        b.AppendLine(c, $"| duration (traffic and faults) | {Duration.TotalSeconds:0} s |");
        b.AppendLine(c, $"| faults injected | {Faults.Values.Sum()} ({string.Join(", ", Faults.Select(f => $"{Describe(f.Key)} {f.Value}"))}) |");
        b.AppendLine(c, $"| messages sent (echo, SHA-256 checked) | {MessagesSent} |");
        b.AppendLine(c, $"| messages delivered | {MessagesDelivered} |");
        b.AppendLine(c, $"| **messages lost** | **{MessagesLost}** |");
        b.AppendLine(c, $"| messages corrupted | {MessagesCorrupted} |");
        b.AppendLine(c, $"| attempts retried past a fault | {Retries} |");
        b.AppendLine(c, $"| connections held (peak / at end) | {PeakConnections} / {ConnectionsAtEnd} |");
        int nodes = Math.Max(1, InProcessNodes);
        b.AppendLine(c, $"| peak memory per in-process node (harness peak RSS / hosts; managed heap / hosts) | {Mib(PeakHarnessBytes / nodes)} / {Mib(PeakManagedBytes / nodes)} |");
        b.AppendLine(c, $"| peak memory of a `p2pnet node` process (VmHWM) | {Mib(PeakProcessNodeBytes)} |");
        foreach (var (fault, times) in Recoveries.OrderBy(r => r.Key))
        {
            if (times.Count > 0)
            {
                var sorted = times.Order().ToArray();
                b.AppendLine(c, $"| time to recover after {Describe(fault)} (p50 / max, n = {sorted.Length}) | {sorted[sorted.Length / 2].TotalMilliseconds:0} ms / {sorted[^1].TotalMilliseconds:0} ms |");
            }
        }
        b.AppendLine(c, $"| slowest host stop (restart, or attacker with unread streams) | {SlowestHostStop.TotalMilliseconds:0} ms |");
        b.AppendLine(c, $"| nodes that did not recover | {(Unrecovered.Count == 0 ? "none" : string.Join(", ", Unrecovered))} |");
        b.AppendLine(c, $"| seed | {Seed} |");
        return b.ToString();
    }

    private static string Mib(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB";

    /// <summary>A short name of a fault kind.</summary>
    public static string Describe(SoakFault fault) => fault switch
    {
        SoakFault.HostRestart => "host stop/restart",
        SoakFault.ProcessKill => "process SIGKILL/restart",
        SoakFault.ProcessStall => "process SIGSTOP/SIGCONT",
        SoakFault.GarbageFlood => "garbage flood",
        SoakFault.StalledReader => "stalled reader",
        _ => fault.ToString(),
    };
}

/// <summary>The faults a soak run injects.</summary>
public enum SoakFault
{
    /// <summary>An in-process host is stopped and started again with the same identity.</summary>
    HostRestart,

    /// <summary>A <c>p2pnet node</c> process is killed with SIGKILL and started again with the same key.</summary>
    ProcessKill,

    /// <summary>A <c>p2pnet node</c> process is stopped with SIGSTOP (its sockets stop reading), then continued.</summary>
    ProcessStall,

    /// <summary>Raw TCP sockets connect to a node and send random bytes or nothing.</summary>
    GarbageFlood,

    /// <summary>A peer opens echo streams to a node, writes to them and never reads, then goes away.</summary>
    StalledReader,
}
