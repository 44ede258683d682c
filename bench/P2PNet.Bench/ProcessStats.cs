using System.Globalization;

namespace P2PNet.Bench;

/// <summary>CPU and memory figures read from /proc (Linux only; the benchmark runs on Linux).</summary>
internal static class ProcessStats
{
    private const double TicksPerSecond = 100.0; // USER_HZ, 100 on every Linux the benchmark targets

    /// <summary>User + system CPU seconds of <paramref name="pid"/>.</summary>
    public static double CpuSeconds(int pid) => StatFields(pid, 13, 14);

    /// <summary>User + system CPU seconds of this process's children that have exited and been reaped.</summary>
    public static double ReapedChildrenCpuSeconds() => StatFields(Environment.ProcessId, 15, 16);

    /// <summary>Resident set size in bytes (VmRSS).</summary>
    public static long RssBytes(int pid) => StatusKb(pid, "VmRSS:") * 1024;

    /// <summary>Peak resident set size in bytes (VmHWM).</summary>
    public static long PeakRssBytes(int pid) => StatusKb(pid, "VmHWM:") * 1024;

    /// <summary>The managed heap after two full collections with finalizers run between them.</summary>
    public static long HeapAfterFullCollection()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private static double StatFields(int pid, int first, int second)
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        // The command name (field 2) may hold spaces; fields after it start past the last ')'.
        string[] rest = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // rest[0] is field 3 (state): field n is rest[n - 3]; callers pass zero-based field indices (n - 1).
        long a = long.Parse(rest[first - 2], CultureInfo.InvariantCulture);
        long b = long.Parse(rest[second - 2], CultureInfo.InvariantCulture);
        return (a + b) / TicksPerSecond;
    }

    private static long StatusKb(int pid, string key)
    {
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith(key, StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(key.Length).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
            }
        }
        return 0;
    }
}
