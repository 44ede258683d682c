using System.Diagnostics;
using System.Globalization;
using System.Runtime;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Protocols.Echo;
using P2PNet.Protocols.Perf;
using P2PNet.Protocols.Ping;
using P2PNet.Security.Pnet;

namespace P2PNet.Bench;

/// <summary>The P2PNet ends of each measurement, each run as its own process by <see cref="Runner"/>.</summary>
internal static class Roles
{
    /// <summary>The loggers of every host a role creates: none unless <c>--log LEVEL</c> is given (see Program.cs).</summary>
    public static ILoggerFactory LoggerFactory { get; set; } = NullLoggerFactory.Instance;

    public static P2PHost CreateHost(Args args, TimeSpan? idleTimeout = null)
    {
        var options = new P2PHostOptions
        {
            EnablePerf = true,
            MaxConnections = 100_000,
            MaxConnectionsPerPeer = 100_000,
            MaxPendingInboundConnections = 1024,
            IdleTimeout = idleTimeout ?? TimeSpan.FromHours(1),
        };
        // 10,000 concurrent streams on one connection is above the public-node default of 1,024.
        options.Yamux.MaxConcurrentStreams = 20_000;
        options.Yamux.MaxUnacknowledgedOutboundStreams = 20_000;
        options.Yamux.MaxUnacknowledgedInboundStreams = 20_000;
        // The benchmarks load one host from one address on purpose: lift the resource manager's public-node budgets.
        var limits = options.Resources;
        limits.AllowedNetworks.Add(System.Net.IPNetwork.Parse("127.0.0.0/8"));
        limits.MaxInboundConnections = limits.MaxOutboundConnections = 100_000;
        limits.MaxInboundStreams = limits.MaxOutboundStreams = 100_000;
        limits.MaxInboundStreamsPerConnection = limits.MaxOutboundStreamsPerConnection = 20_000;
        limits.MaxInboundStreamsPerProtocol = limits.MaxOutboundStreamsPerProtocol = 100_000;
        limits.MaxMemory = limits.MaxMemoryPerConnection = long.MaxValue / 4;
        if (args.Get("psk") is string psk)
        {
            options.PrivateNetworkKey = SwarmKey.ReadFile(psk);
        }
        var host = new P2PHost(options, LoggerFactory);
        host.SetStreamHandler(EchoProtocol.Id, EchoProtocol.HandleAsync);
        return host;
    }

    /// <summary>Listens, prints <c>LISTEN ma</c>, answers <c>gc</c> on stdin with <c>OK</c> and <c>usage</c> with <c>USAGE</c>,
    /// exits at stdin EOF.</summary>
    public static async Task<int> ServerAsync(Args args)
    {
        await using var host = CreateHost(args);
        var addresses = await host.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
        Console.WriteLine($"LISTEN {addresses[0]}");
        string? line;
        while ((line = await Console.In.ReadLineAsync()) is not null)
        {
            if (line == "gc")
            {
                GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
                GC.WaitForPendingFinalizers();
                Console.WriteLine($"OK {host.Connections.Count} {GC.GetTotalMemory(forceFullCollection: true)} {GC.GetGCMemoryInfo().TotalCommittedBytes}");
            }
            else if (line == "usage")
            {
                // What the resource manager holds (handshake and connection slots, streams, memory) and has refused: after
                // a client is done, everything but the refusals is back to zero unless a slot leaked.
                Console.WriteLine($"USAGE {host.GetResourceUsage()}");
            }
        }
        return 0;
    }

    public static async Task<int> PerfAsync(Args args)
    {
        await using var host = CreateHost(args);
        var connection = await host.DialAsync(Multiaddr.Parse(args.Positional(0)));
        long up = args.GetLong("upload", 0);
        long down = args.GetLong("download", 0);
        var result = await PerfProtocol.RunAsync(connection, up, down);
        Console.WriteLine(Json.Line(
            ("upload_gbit_s", Gbit(up, result.Upload)),
            ("download_gbit_s", Gbit(down, result.Download))));
        return 0;
    }

    /// <summary>Connect + first ping on <c>count</c> fresh connections, one at a time.</summary>
    public static async Task<int> LatencyAsync(Args args)
    {
        await using var host = CreateHost(args);
        // Without the /p2p suffix every dial makes a new connection instead of reusing one.
        var address = Multiaddr.Parse(args.Positional(0)).WithoutPeerId();
        int count = (int)args.GetLong("count", 200);
        // Warm-up: a long-running node has its handshake code through tiered JIT (tier 0, instrumented, tier 1); a fresh
        // client process has not, and its first few hundred dials measure the JIT rather than the handshake.
        int warmup = (int)args.GetLong("warmup", 1000);
        var samples = new List<double>(count);
        var connects = new List<double>(count);
        for (int i = 0; i < warmup + count; i++)
        {
            long start = Stopwatch.GetTimestamp();
            var connection = await host.DialAsync(address);
            double connected = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            await foreach (var _ in PingProtocol.PingAsync(connection, 1))
            {
            }
            double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            await connection.DisposeAsync();
            if (i >= warmup)
            {
                samples.Add(ms);
                connects.Add(connected);
            }
        }
        samples.Sort();
        connects.Sort();
        // connect_p50_ms: the dial alone (TCP, multistream, Noise, Yamux); the rest of p50 is the ping stream's first round trip.
        Console.WriteLine(Json.Line(("p50_ms", Stats.Percentile(samples, 50)), ("p99_ms", Stats.Percentile(samples, 99)),
            ("connect_p50_ms", Stats.Percentile(connects, 50))));
        return 0;
    }

    /// <summary>Full handshakes (TCP + multistream + Noise + Yamux) per second with <c>concurrency</c> dialers.</summary>
    /// <remarks>A failed dial or close is counted and the loop goes on: one reset among thousands of handshakes is a
    /// figure to report, not a reason to lose the run. The rate counts completed handshakes only; when most attempts
    /// fail there is no rate to report, so the role prints no JSON line and exits 1. <c>MEASURE</c> marks the start of
    /// the measured window, for the runner's reading of the listener's CPU time.</remarks>
    public static async Task<int> HandshakesAsync(Args args)
    {
        await using var host = CreateHost(args);
        var address = Multiaddr.Parse(args.Positional(0)).WithoutPeerId();
        int count = (int)args.GetLong("count", 1000);
        int concurrency = (int)args.GetLong("concurrency", 8);
        int remaining = count;
        int failures = 0;
        int reported = 0;
        // One dial and close; a failure is counted, and the first few are described on stderr.
        async Task HandshakeAsync()
        {
            try
            {
                var connection = await host.DialAsync(address);
                await connection.DisposeAsync();
            }
#pragma warning disable CA1031 // any failure of one handshake is counted and the run goes on
            catch (Exception e)
#pragma warning restore CA1031
            {
                Interlocked.Increment(ref failures);
                if (Interlocked.Increment(ref reported) <= 5)
                {
                    var inner = e.GetBaseException();
                    Console.Error.WriteLine($"handshake failed: {e.GetType().Name}: {e.Message}"
                        + (inner == e ? "" : $" ({inner.GetType().Name}: {inner.Message})"));
                }
            }
        }
        async Task WorkerAsync()
        {
            while (Interlocked.Decrement(ref remaining) >= 0)
            {
                await HandshakeAsync();
            }
        }
        // Warm up for at least --warmup handshakes (default: --count) and --warmup-seconds, then on until tiered JIT has
        // settled: fewer than JitSettled methods compiled in the last second, or --settle-seconds in all. A two-process
        // handshake loop keeps the tiered compiler busy for 10-15 s (tier 0, instrumented, tier 1 for over 8,000
        // methods); measured before that, about a fifth of both processes' CPU was the JIT's (a perf profile 2 s into
        // the window), and the figure was the JIT's rather than the handshake's.
        // The count's floor is the measured count, not more: every dial leaves an ephemeral port in TIME_WAIT for a
        // minute, and after a 50,000-handshake warm-up (a full run, 46 s) the measured rate was 16-23 % below the quick
        // runs'. Not investigated further; fewer dials avoid the question.
        int warmup = (int)args.GetLong("warmup", count);
        var minimumWarmup = TimeSpan.FromSeconds(args.GetLong("warmup-seconds", 0));
        var maximumWarmup = TimeSpan.FromSeconds(args.GetLong("settle-seconds", 60));
        const long JitSettled = 10;
        var warmupTime = Stopwatch.StartNew();
        long warmupDone = 0;
        bool warming = true;
        async Task WarmupWorkerAsync()
        {
            while (Volatile.Read(ref warming))
            {
                await HandshakeAsync();
                Interlocked.Increment(ref warmupDone);
            }
        }
        var warmers = Enumerable.Range(0, concurrency).Select(_ => Task.Run(WarmupWorkerAsync)).ToArray();
        long compiled = JitInfo.GetCompiledMethodCount();
        long compiledLastSecond = long.MaxValue;
        while (warmupTime.Elapsed < maximumWarmup
            && (Interlocked.Read(ref warmupDone) < warmup || warmupTime.Elapsed < minimumWarmup || compiledLastSecond >= JitSettled))
        {
            await Task.Delay(1000);
            long now = JitInfo.GetCompiledMethodCount();
            compiledLastSecond = now - compiled;
            compiled = now;
        }
        Volatile.Write(ref warming, false);
        await Task.WhenAll(warmers);
        double warmupSeconds = warmupTime.Elapsed.TotalSeconds;
        int warmupFailures = Interlocked.Exchange(ref failures, 0);
        Console.Error.WriteLine($"warm-up: {warmupDone} handshakes in {warmupSeconds:F1} s, "
            + (compiledLastSecond == long.MaxValue ? "too short to watch the JIT" : $"{compiledLastSecond} methods compiled in its last second")
            + $" ({compiled} in all)"
            + (compiledLastSecond >= JitSettled ? $"; the JIT had not settled after {maximumWarmup.TotalSeconds:F0} s" : ""));
        if (warmupFailures * 2 > warmupDone)
        {
            Console.Error.WriteLine($"most handshakes failed: {warmupFailures} of {warmupDone} in the warm-up");
            return 1;
        }
        Console.WriteLine("MEASURE");
        remaining = count;
        double cpu0 = ProcessStats.CpuSeconds(Environment.ProcessId);
        long start = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(WorkerAsync)));
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        int completed = count - failures;
        if (completed * 2 < count)
        {
            Console.Error.WriteLine($"most handshakes failed: {failures} of {count} measured ({warmupFailures} of {warmupDone} in the warm-up)");
            return 1;
        }
        // CPU per handshake of this (dialing) process: steadier than the rate on a shared machine.
        double cpuMicroseconds = (ProcessStats.CpuSeconds(Environment.ProcessId) - cpu0) * 1e6 / completed;
        Console.WriteLine(Json.Line(("per_second", completed / seconds), ("client_cpu_us", cpuMicroseconds),
            ("failures", failures), ("warmup_failures", warmupFailures), ("warmup_handshakes", warmupDone),
            ("warmup_seconds", warmupSeconds), ("jit_settled", compiledLastSecond < JitSettled ? 1 : 0)));
        return 0;
    }

    /// <summary>Opens <c>count</c> connections, prints READY and keeps them open until stdin closes.</summary>
    public static async Task<int> IdleAsync(Args args)
    {
        await using var host = CreateHost(args);
        var address = Multiaddr.Parse(args.Positional(0)).WithoutPeerId();
        int count = (int)args.GetLong("count", 1000);
        var connections = new List<P2PConnection>(count);
        using var gate = new SemaphoreSlim(32);
        var dials = Enumerable.Range(0, count).Select(async _ =>
        {
            await gate.WaitAsync();
            try
            {
                return await host.DialAsync(address);
            }
            finally
            {
                gate.Release();
            }
        });
        connections.AddRange(await Task.WhenAll(dials));
        Console.WriteLine($"READY {connections.Count}");
        await Console.In.ReadLineAsync();
        return 0;
    }

    /// <summary>Opens <c>count</c> concurrent echo streams on one connection, echoes 32 bytes on each, closes them.</summary>
    public static async Task<int> StreamsAsync(Args args)
    {
        await using var host = CreateHost(args);
        var connection = await host.DialAsync(Multiaddr.Parse(args.Positional(0)));
        int count = (int)args.GetLong("count", 10_000);
        byte[] message = new byte[32];
        Random.Shared.NextBytes(message);
        long start = Stopwatch.GetTimestamp();
        var streams = await Task.WhenAll(Enumerable.Range(0, count).Select(_ => connection.OpenStreamAsync(EchoProtocol.Id).AsTask()));
        double openSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        int ok = 0;
        await Task.WhenAll(streams.Select(async stream =>
        {
            byte[] reply = new byte[message.Length];
            await stream.WriteAsync(message, completeWrites: true);
            int n = await stream.ReadAtLeastAsync(reply, reply.Length, throwOnEndOfStream: false);
            if (n == reply.Length && reply.AsSpan().SequenceEqual(message))
            {
                Interlocked.Increment(ref ok);
            }
            await stream.DisposeAsync();
        }));
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        Console.WriteLine(Json.Line(("ok", ok), ("open_s", openSeconds), ("seconds", seconds),
            ("client_peak_mib", ProcessStats.PeakRssBytes(Environment.ProcessId) / 1048576.0)));
        return ok == count ? 0 : 1;
    }

    private static double Gbit(long bytes, TimeSpan time) => bytes == 0 ? 0 : bytes * 8 / time.TotalSeconds / 1e9;
}

/// <summary>Minimal <c>--name value</c> parsing.</summary>
internal sealed class Args(string[] argv)
{
    public string? Get(string name)
    {
        int i = Array.IndexOf(argv, "--" + name);
        return i >= 0 && i + 1 < argv.Length ? argv[i + 1] : null;
    }

    public bool Has(string name) => Array.IndexOf(argv, "--" + name) >= 0;

    public long GetLong(string name, long fallback) =>
        Get(name) is string s ? long.Parse(s, CultureInfo.InvariantCulture) : fallback;

    public string Positional(int index) => argv[1 + index];
}

internal static class Json
{
    public static string Line(params (string Name, double Value)[] fields) =>
        "{" + string.Join(",", fields.Select(f => $"\"{f.Name}\":{f.Value.ToString("0.######", CultureInfo.InvariantCulture)}")) + "}";
}

internal static class Stats
{
    public static double Percentile(List<double> sorted, double p)
    {
        if (sorted.Count == 0)
        {
            return double.NaN;
        }
        int index = (int)Math.Ceiling(p / 100.0 * sorted.Count) - 1;
        return sorted[Math.Clamp(index, 0, sorted.Count - 1)];
    }

    public static double Median(IEnumerable<double> values)
    {
        var list = values.Where(v => !double.IsNaN(v)).Order().ToList();
        if (list.Count == 0)
        {
            return double.NaN;
        }
        return list.Count % 2 == 1 ? list[list.Count / 2] : (list[list.Count / 2 - 1] + list[list.Count / 2]) / 2;
    }
}
