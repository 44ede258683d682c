using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;

namespace P2PNet.Vpn.Tests;

/// <summary>
/// The real thing: TUN devices in network namespaces joined by veth pairs to a bridge, one `p2pnet vpn up` process per
/// namespace. Needs root (CI and the dev machine run as root); without it these tests fail and say so.
/// </summary>
[Collection(KernelTestGroup.Name)]
public class KernelVpnTests
{
    [Fact]
    public async Task TunVpn_AcrossThreeNamespaces_CarriesPingAndTcp_AndARemovedMemberIsCutOff()
    {
        await using var lab = await NamespaceLab.CreateAsync(3);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var ids = new string[3];
        for (int i = 0; i < 3; i++)
        {
            ids[i] = (await lab.RunAsync(null, cts.Token, "dotnet", lab.Cli, "key", "new", "--out", lab.KeyFile(i))).Trim();
        }
        // The whole run is inside a PSK private swarm (P2PHostOptions.PrivateNetworkKey).
        string psk = Path.Combine(Path.GetDirectoryName(lab.KeyFile(0))!, "swarm.key");
        await File.WriteAllTextAsync(psk, "/key/swarm/psk/1.0.0/\n/base16/\n" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)) + "\n", cts.Token);
        var a = lab.Start(0, "vpn", "up", "--psk", psk, "--key", lab.KeyFile(0), "--listen", $"/ip4/{lab.Underlay(0)}/tcp/4001", "--cidr", "10.66.0.0/24",
            "--ip", "10.66.0.1", "--coordinator", "--allow", $"{ids[1]}=10.66.0.2", "--allow", ids[2], "--tun", "p2vpn0");
        Assert.Equal("VPN UP 10.66.0.1/24 dev p2vpn0", await a.WaitForLineAsync("VPN UP", cts.Token));
        // The coordinator announces its VPN id (scripts read it) and keeps it beside its key for the next run.
        string vpnId = await a.WaitForLineAsync("VPN ID", cts.Token);
        Assert.Matches("^VPN ID [0-9a-f]{32}$", vpnId);
        Assert.Equal(vpnId["VPN ID ".Length..], (await File.ReadAllTextAsync(lab.KeyFile(0) + ".vpn-id", cts.Token)).Trim());
        string join = $"/ip4/{lab.Underlay(0)}/tcp/4001/p2p/{ids[0]}";
        var b = lab.Start(1, "vpn", "up", "--psk", psk, "--key", lab.KeyFile(1), "--listen", $"/ip4/{lab.Underlay(1)}/tcp/4001", "--join", join, "--tun", "p2vpn0");
        Assert.Equal("VPN UP 10.66.0.2/24 dev p2vpn0", await b.WaitForLineAsync("VPN UP", cts.Token));
        Assert.Equal(vpnId, await b.WaitForLineAsync("VPN ID", cts.Token)); // a member learns it from the table
        var c = lab.Start(2, "vpn", "up", "--psk", psk, "--key", lab.KeyFile(2), "--listen", $"/ip4/{lab.Underlay(2)}/tcp/4001", "--join", join,
            "--ip", "10.66.0.30", "--tun", "p2vpn0", "--mtu", "1400");
        Assert.Equal("VPN UP 10.66.0.30/24 dev p2vpn0", await c.WaitForLineAsync("VPN UP", cts.Token));

        // Every pair, both ways; member-to-member traffic goes directly (B ↔ C).
        string[] vpnIps = ["10.66.0.1", "10.66.0.2", "10.66.0.30"];
        for (int from = 0; from < 3; from++)
        {
            for (int to = 0; to < 3; to++)
            {
                if (from != to)
                {
                    await lab.RunInAsync(from, cts.Token, "ping", "-c", "2", "-i", "0.2", "-W", "3", vpnIps[to]);
                }
            }
        }

        // A TCP transfer B → C through the VPN.
        await lab.RunInAsync(2, cts.Token, "iperf3", "-s", "-D", "-1", "-p", "5301");
        await lab.WaitForTcpListenerAsync(2, 5301, cts.Token); // -D returns before the daemon listens
        string report = await lab.RunInAsync(1, cts.Token, "iperf3", "-c", "10.66.0.30", "-p", "5301", "-t", "2", "-J");
        Assert.Contains("\"sum_received\"", report, StringComparison.Ordinal);

        // The coordinator removes C: nobody answers it, and it answers nobody.
        await a.Input.WriteLineAsync($"remove {ids[2]}");
        await a.Input.FlushAsync(cts.Token);
        Assert.StartsWith("REMOVED", await a.WaitForLineAsync("REMOVED", cts.Token), StringComparison.Ordinal);
        await a.Input.WriteLineAsync("status");
        await a.Input.FlushAsync(cts.Token);
        Assert.Equal($"MEMBER {ids[1]} 10.66.0.2", await a.WaitForLineAsync($"MEMBER {ids[1]}", cts.Token));
        Assert.EndsWith(" 10.66.0.0/24 2 members", await a.WaitForLineAsync("TABLE", cts.Token), StringComparison.Ordinal);
        foreach (var (from, to) in new[] { (2, 0), (2, 1), (1, 2), (0, 2) })
        {
            var failed = await Assert.ThrowsAsync<InvalidOperationException>(() =>
                lab.RunInAsync(from, cts.Token, "ping", "-c", "2", "-i", "0.2", "-W", "1", vpnIps[to]));
            Assert.Contains("exit", failed.Message, StringComparison.Ordinal);
        }
        // The others still talk.
        await lab.RunInAsync(1, cts.Token, "ping", "-c", "1", "-W", "3", "10.66.0.1");
    }

    [Fact]
    public async Task TunVpn_LargeTcpTransfers_ArriveIntact_BetweenOffloadingMembers_AndWithAMemberWithoutOffload()
    {
        await using var lab = await NamespaceLab.CreateAsync(3);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(150));
        var ids = new string[3];
        for (int i = 0; i < 3; i++)
        {
            ids[i] = (await lab.RunAsync(null, cts.Token, "dotnet", lab.Cli, "key", "new", "--out", lab.KeyFile(i))).Trim();
        }
        // A and B open their TUN devices with IFF_VNET_HDR and TSO (the default); C without (--no-offload), so what B
        // sends C arrives as super-packets that C segments and checksums in software.
        var a = lab.Start(0, "vpn", "up", "--key", lab.KeyFile(0), "--listen", $"/ip4/{lab.Underlay(0)}/tcp/4001", "--cidr", "10.67.0.0/24",
            "--ip", "10.67.0.1", "--coordinator", "--allow", $"{ids[1]}=10.67.0.2", "--allow", $"{ids[2]}=10.67.0.3", "--tun", "p2vpn0");
        await a.WaitForLineAsync("VPN UP", cts.Token);
        string join = $"/ip4/{lab.Underlay(0)}/tcp/4001/p2p/{ids[0]}";
        var b = lab.Start(1, "vpn", "up", "--key", lab.KeyFile(1), "--listen", $"/ip4/{lab.Underlay(1)}/tcp/4001", "--join", join, "--tun", "p2vpn0");
        await b.WaitForLineAsync("VPN UP", cts.Token);
        var c = lab.Start(2, "vpn", "up", "--key", lab.KeyFile(2), "--listen", $"/ip4/{lab.Underlay(2)}/tcp/4001", "--join", join,
            "--tun", "p2vpn0", "--no-offload");
        await c.WaitForLineAsync("VPN UP", cts.Token);
        await lab.RunInAsync(1, cts.Token, "ping", "-c", "1", "-W", "3", "10.67.0.1");
        await lab.RunInAsync(1, cts.Token, "ping", "-c", "1", "-W", "3", "10.67.0.3");

        const long Size = 48L * 1024 * 1024;
        var a1 = IPAddress.Parse("10.67.0.1");
        var b2 = IPAddress.Parse("10.67.0.2");
        var c3 = IPAddress.Parse("10.67.0.3");
        // Both directions at once on each pair: data one way shares the stream with the other flow's ACKs.
        var transfers = await Task.WhenAll(
            NamespaceSockets.TransferAsync(lab.Namespace(1), lab.Namespace(0), a1, 5401, Size, 1, cts.Token),
            NamespaceSockets.TransferAsync(lab.Namespace(0), lab.Namespace(1), b2, 5402, Size, 2, cts.Token));
        transfers = [.. transfers, .. await Task.WhenAll(
            NamespaceSockets.TransferAsync(lab.Namespace(1), lab.Namespace(2), c3, 5403, Size, 3, cts.Token),
            NamespaceSockets.TransferAsync(lab.Namespace(2), lab.Namespace(1), b2, 5404, Size, 4, cts.Token))];
        foreach (var (sent, received, bytes) in transfers)
        {
            Assert.Equal(Size, bytes);
            Assert.Equal(sent, received);
        }

        // Super-packets really crossed: what A and C received from B averages far above one 1420-byte packet.
        foreach (var (process, name) in new[] { (a, "A"), (c, "C") })
        {
            var peers = ParseStats(await process.StopAsync());
            var fromB = peers.GetProperty(ids[1]);
            double average = fromB.GetProperty("BytesReceived").GetDouble() / fromB.GetProperty("PacketsReceived").GetDouble();
            Assert.True(average > 4000, $"{name} received {average:F0} bytes per packet from B: super-packets were not carried.");
        }
    }

    private static JsonElement ParseStats(string stderr)
    {
        string line = stderr.Split('\n').LastOrDefault(l => l.StartsWith("VPN STATS ", StringComparison.Ordinal))
            ?? throw new InvalidOperationException("The VPN printed no statistics on exit: " + stderr);
        using var document = JsonDocument.Parse(line["VPN STATS ".Length..]);
        return document.RootElement.GetProperty("peers").Clone();
    }
}

/// <summary>The kernel tests move a lot of data between processes: they run alone, after the in-process tests, so their
/// load does not eat the in-process tests' time budgets (and they do not compete with each other).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class KernelTestGroup
{
    public const string Name = "Kernel (namespaces, TUN, VPN processes)";
}

/// <summary>What the kernel tests need; each fails (never skips) with what to install when something is missing.</summary>
internal static class KernelTestRequirements
{
    public static async Task CheckAsync()
    {
        if (!string.Equals((await NamespaceLab.RunProcessAsync(null, CancellationToken.None, "id", "-u")).Trim(), "0", StringComparison.Ordinal))
        {
            Assert.Fail("The kernel VPN tests need root (network namespaces, veth, TUN devices with CAP_NET_ADMIN). Run them as root, as CI does.");
        }
        foreach (string tool in new[] { "ip", "iperf3", "ping" })
        {
            if ((await NamespaceLab.RunProcessAsync(null, CancellationToken.None, "sh", "-c", $"command -v {tool} || true")).Trim().Length == 0)
            {
                Assert.Fail($"The kernel VPN tests need '{tool}' (apt-get install iproute2 iperf3 iputils-ping).");
            }
        }
    }
}

/// <summary>
/// Uniquely named network namespaces, each joined by a veth pair to a bridge in a hub namespace (underlay
/// 192.168.<i>x</i>.<i>n</i>/24), plus the processes run in them. Everything is removed in <see cref="DisposeAsync"/>.
/// </summary>
internal sealed class NamespaceLab : IAsyncDisposable
{
    private readonly string _id = Convert.ToHexStringLower(BitConverter.GetBytes(Random.Shared.Next()))[..6];
    private readonly List<string> _namespaces = [];
    private readonly List<CliProcess> _processes = [];
    private readonly string _dir = Directory.CreateTempSubdirectory("p2pnet-vpn-").FullName;
    private readonly int _subnet = Random.Shared.Next(100, 250);

    private NamespaceLab()
    {
        Cli = FindCli();
    }

    public string Cli { get; }

    private string Hub => $"vpn-{_id}-hub";

    public string Namespace(int i) => $"vpn-{_id}-{i}";

    public string Underlay(int i) => $"192.168.{_subnet}.{i + 1}";

    public string KeyFile(int i) => Path.Combine(_dir, $"{i}.key");

    public static async Task<NamespaceLab> CreateAsync(int count)
    {
        await KernelTestRequirements.CheckAsync();
        var lab = new NamespaceLab();
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await lab.IpAsync(cts.Token, "netns", "add", lab.Hub);
            lab._namespaces.Add(lab.Hub);
            await lab.IpAsync(cts.Token, "-n", lab.Hub, "link", "add", "br0", "type", "bridge");
            await lab.IpAsync(cts.Token, "-n", lab.Hub, "link", "set", "br0", "up");
            for (int i = 0; i < count; i++)
            {
                string ns = lab.Namespace(i);
                await lab.IpAsync(cts.Token, "netns", "add", ns);
                lab._namespaces.Add(ns);
                await lab.IpAsync(cts.Token, "link", "add", $"v{lab._id}{i}", "netns", ns, "type", "veth", "peer", "name", $"h{lab._id}{i}", "netns", lab.Hub);
                await lab.IpAsync(cts.Token, "-n", lab.Hub, "link", "set", $"h{lab._id}{i}", "master", "br0", "up");
                await lab.IpAsync(cts.Token, "-n", ns, "addr", "add", $"{lab.Underlay(i)}/24", "dev", $"v{lab._id}{i}");
                await lab.IpAsync(cts.Token, "-n", ns, "link", "set", $"v{lab._id}{i}", "up");
                await lab.IpAsync(cts.Token, "-n", ns, "link", "set", "lo", "up");
            }
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }
        return lab;
    }

    public CliProcess Start(int ns, params string[] arguments)
    {
        var process = CliProcess.Start("ip", ["netns", "exec", Namespace(ns), "dotnet", Cli, .. arguments]);
        _processes.Add(process);
        return process;
    }

    public Task<string> RunAsync(int? ns, CancellationToken ct, params string[] command) =>
        ns is null ? RunProcessAsync(null, ct, command) : RunProcessAsync(Namespace(ns.Value), ct, command);

    public Task<string> RunInAsync(int ns, CancellationToken ct, params string[] command) => RunProcessAsync(Namespace(ns), ct, command);

    /// <summary>Waits until something listens on TCP <paramref name="port"/> in namespace <paramref name="ns"/>
    /// (polls <c>ss</c>; the caller's token bounds the wait).</summary>
    public async Task WaitForTcpListenerAsync(int ns, int port, CancellationToken ct)
    {
        while ((await RunInAsync(ns, ct, "ss", "-Hltn", $"sport = :{port}")).Trim().Length == 0)
        {
            await Task.Delay(50, ct);
        }
    }

    private Task<string> IpAsync(CancellationToken ct, params string[] arguments) => RunProcessAsync(null, ct, ["ip", .. arguments]);

    /// <summary>Runs a command (in a namespace) and returns its stdout; a non-zero exit throws with the output.</summary>
    public static async Task<string> RunProcessAsync(string? ns, CancellationToken ct, params string[] command)
    {
        string[] full = ns is null ? command : ["ip", "netns", "exec", ns, .. command];
        var info = new ProcessStartInfo(full[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in full.Skip(1))
        {
            info.ArgumentList.Add(argument);
        }
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        try
        {
            await process.WaitForExitAsync(ct);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        string output = await stdout;
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"'{string.Join(' ', full)}' failed with exit {process.ExitCode}: {output}{await stderr}");
        }
        return output;
    }

    private static string FindCli()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "P2PNet.sln")))
        {
            dir = dir.Parent;
        }
        string configuration = AppContext.BaseDirectory.Contains("/Debug/", StringComparison.Ordinal) ? "Debug" : "Release";
        string path = Path.Combine(dir?.FullName ?? ".", "samples", "P2PNet.Cli", "bin", configuration, "net10.0", "p2pnet.dll");
        Assert.True(File.Exists(path), $"The CLI is not built at {path}: build the solution first.");
        return path;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var process in _processes)
        {
            await process.DisposeAsync();
        }
        foreach (string ns in Enumerable.Reverse(_namespaces))
        {
            try
            {
                await RunProcessAsync(null, CancellationToken.None, "ip", "netns", "del", ns);
            }
            catch (InvalidOperationException)
            {
            }
        }
        Directory.Delete(_dir, recursive: true);
    }
}

/// <summary>A `p2pnet` process whose stdout lines can be awaited and whose stdin takes commands.</summary>
internal sealed class CliProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly StringBuilder _stderr = new();
    private readonly SemaphoreSlim _changed = new(0);

    private CliProcess(Process process) => _process = process;

    public StreamWriter Input => _process.StandardInput;

    public static CliProcess Start(string file, string[] arguments)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (string argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        var process = new Process { StartInfo = info };
        var cli = new CliProcess(process);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (cli._lines)
                {
                    cli._lines.Add(e.Data);
                }
                cli._changed.Release();
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            lock (cli._stderr)
            {
                cli._stderr.AppendLine(e.Data);
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return cli;
    }

    public async Task<string> WaitForLineAsync(string prefix, CancellationToken ct)
    {
        while (true)
        {
            lock (_lines)
            {
                if (_lines.FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal)) is { } line)
                {
                    return line;
                }
            }
            if (_process.HasExited)
            {
                string err;
                lock (_stderr)
                {
                    err = _stderr.ToString();
                }
                throw new InvalidOperationException($"p2pnet exited with {_process.ExitCode} before printing '{prefix}': {err}");
            }
            await _changed.WaitAsync(TimeSpan.FromMilliseconds(100), ct);
        }
    }

    /// <summary>Stops the process with SIGTERM (the CLI prints its statistics) and returns everything it wrote to stderr.</summary>
    public async Task<string> StopAsync()
    {
        await TerminateAsync();
        _process.WaitForExit(); // drains the asynchronous stderr reader
        lock (_stderr)
        {
            return _stderr.ToString();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await TerminateAsync();
        _process.Dispose();
        _changed.Dispose();
    }

    private async Task TerminateAsync()
    {
        if (!_process.HasExited)
        {
            // SIGTERM first: the CLI removes its device and exits cleanly.
            using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill!.WaitForExitAsync();
            }
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
    }
}
