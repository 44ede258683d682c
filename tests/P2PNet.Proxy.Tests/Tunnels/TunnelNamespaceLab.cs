using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace P2PNet.Proxy.Tests.Tunnels;

/// <summary>
/// The P2P VPS topology in network namespaces (names start with <c>tunnel-</c>, deleted on dispose even after a failure):
/// <code>
///   device 10.201.1.2 ── 10.201.1.1 router (nftables masquerade) 10.201.2.1 ── 10.201.2.2 server 10.201.3.1 ── 10.201.3.2 renter
/// </code>
/// The device reaches the server only through the masquerading router; the server and the renter have no route to the
/// device's network, so every renter connection to the device goes through the tunnel. Needs root.
/// </summary>
internal sealed class TunnelNamespaceLab : IAsyncDisposable
{
    public const string ServerPublicAddress = "10.201.3.1";
    public const string ServerDeviceSideAddress = "10.201.2.2";
    public const string DeviceAddress = "10.201.1.2";

    private readonly string _id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(2));
    private readonly List<string> _namespaces = [];

    [DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint GetEffectiveUserId();

    public string Device => $"tunnel-dev-{_id}";

    public string Router => $"tunnel-rtr-{_id}";

    public string Server => $"tunnel-srv-{_id}";

    public string Renter => $"tunnel-rnt-{_id}";

    public static async Task<TunnelNamespaceLab> CreateAsync(CancellationToken cancellationToken)
    {
        if (GetEffectiveUserId() != 0)
        {
            Assert.Fail("The tunnel namespace test needs root (network namespaces, nftables); run the tests as root, as CI and ./test.sh do.");
        }
        var lab = new TunnelNamespaceLab();
        try
        {
            await lab.SetUpAsync(cancellationToken);
            return lab;
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }
    }

    private async Task SetUpAsync(CancellationToken cancellationToken)
    {
        foreach (string ns in new[] { Device, Router, Server, Renter })
        {
            await RunAsync(["ip", "netns", "add", ns], cancellationToken);
            _namespaces.Add(ns);
            await ExecAsync(ns, ["ip", "link", "set", "lo", "up"], cancellationToken);
        }
        await LinkAsync(Device, "10.201.1.2/24", Router, "10.201.1.1/24", "d", cancellationToken);
        await LinkAsync(Router, "10.201.2.1/24", Server, "10.201.2.2/24", "r", cancellationToken);
        await LinkAsync(Server, "10.201.3.1/24", Renter, "10.201.3.2/24", "s", cancellationToken);
        await ExecAsync(Device, ["ip", "route", "add", "default", "via", "10.201.1.1"], cancellationToken);
        await ExecAsync(Router, ["sysctl", "-qw", "net.ipv4.ip_forward=1"], cancellationToken);
        await ExecAsync(Router, ["nft", "-f", "-"], cancellationToken, $$"""
            table ip tunnelnat {
              chain postrouting {
                type nat hook postrouting priority srcnat; policy accept;
                oifname "tnlr{{_id}}a" masquerade
              }
              chain forward {
                type filter hook forward priority filter; policy drop;
                ct state established,related accept
                iifname "tnld{{_id}}b" accept
              }
            }
            """);
    }

    private async Task LinkAsync(string a, string addressA, string b, string addressB, string tag, CancellationToken cancellationToken)
    {
        string left = $"tnl{tag}{_id}a", right = $"tnl{tag}{_id}b";
        // Name each end after the link and its side so the router's rules can name its interfaces.
        await RunAsync(["ip", "link", "add", left, "netns", a, "type", "veth", "peer", "name", right, "netns", b], cancellationToken);
        await ExecAsync(a, ["ip", "addr", "add", addressA, "dev", left], cancellationToken);
        await ExecAsync(a, ["ip", "link", "set", left, "up"], cancellationToken);
        await ExecAsync(b, ["ip", "addr", "add", addressB, "dev", right], cancellationToken);
        await ExecAsync(b, ["ip", "link", "set", right, "up"], cancellationToken);
    }

    public Task<(int ExitCode, string Stdout, string Stderr)> ExecAsync(string ns, IReadOnlyList<string> command, CancellationToken cancellationToken, string? stdin = null) =>
        RunAsync(["ip", "netns", "exec", ns, .. command], cancellationToken, stdin, check: true);

    public Task<(int ExitCode, string Stdout, string Stderr)> TryExecAsync(string ns, IReadOnlyList<string> command, CancellationToken cancellationToken, string? stdin = null) =>
        RunAsync(["ip", "netns", "exec", ns, .. command], cancellationToken, stdin, check: false);

    /// <summary>Starts a long-running command in a namespace, its stdout lines awaitable.</summary>
    public LabProcess Start(string ns, string name, IReadOnlyList<string> command) => LabProcess.Start(name, ["ip", "netns", "exec", ns, .. command]);

    private static async Task<(int, string, string)> RunAsync(IReadOnlyList<string> command, CancellationToken cancellationToken, string? stdin = null, bool check = true)
    {
        var info = new ProcessStartInfo(command[0])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in command.Skip(1))
        {
            info.ArgumentList.Add(arg);
        }
        using var process = Process.Start(info)!;
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        try
        {
            await process.WaitForExitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        string output = await stdout, errors = await stderr;
        if (check && process.ExitCode != 0)
        {
            throw new InvalidOperationException($"`{string.Join(' ', command)}` exited {process.ExitCode}: {errors}{output}");
        }
        return (process.ExitCode, output, errors);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (string ns in _namespaces)
        {
            // Processes left in the namespace (none should be) would keep it alive: end them first.
            using var cleanup = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                var (_, pids, _) = await RunAsync(["ip", "netns", "pids", ns], cleanup.Token, check: false);
                foreach (string pid in pids.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                {
                    await RunAsync(["kill", "-9", pid.Trim()], cleanup.Token, check: false);
                }
                await RunAsync(["ip", "netns", "del", ns], cleanup.Token, check: false);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }
}

/// <summary>A long-running process whose stdout lines are kept and awaitable; disposing sends SIGTERM, then kills.</summary>
internal sealed class LabProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly StringBuilder _stderr = new();
    private readonly Task _readers;

    private LabProcess(string name, Process process)
    {
        Name = name;
        _process = process;
        _readers = Task.WhenAll(ReadAsync(process.StandardOutput, line => { lock (_lines) { _lines.Add(line); } }),
            ReadAsync(process.StandardError, line => { lock (_stderr) { _stderr.AppendLine(line); } }));
    }

    public string Name { get; }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_lines)
            {
                return [.. _lines];
            }
        }
    }

    public static LabProcess Start(string name, IReadOnlyList<string> command)
    {
        var info = new ProcessStartInfo(command[0])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in command.Skip(1))
        {
            info.ArgumentList.Add(arg);
        }
        var process = Process.Start(info)!;
        process.StandardInput.Close();
        return new LabProcess(name, process);
    }

    private static async Task ReadAsync(StreamReader reader, Action<string> onLine)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            onLine(line);
        }
    }

    /// <summary>Waits for the <paramref name="count"/>-th line matching <paramref name="predicate"/>; fails with the output on timeout or exit.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> predicate, TimeSpan timeout, int count = 1)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            var matches = Lines.Where(predicate).ToList();
            if (matches.Count >= count)
            {
                return matches[count - 1];
            }
            if (_process.HasExited)
            {
                await _readers.WaitAsync(TimeSpan.FromSeconds(5));
                matches = Lines.Where(predicate).ToList();
                if (matches.Count >= count)
                {
                    return matches[count - 1];
                }
                Assert.Fail($"{Name} exited {_process.ExitCode} before the expected line; stdout:\n{string.Join('\n', Lines)}\nstderr:\n{Stderr}");
            }
            try
            {
                await Task.Delay(50, cts.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"{Name}: no expected line within {timeout.TotalSeconds:0} s; stdout:\n{string.Join('\n', Lines)}\nstderr:\n{Stderr}");
            }
        }
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        await _process.WaitForExitAsync().WaitAsync(timeout);
        await _readers.WaitAsync(TimeSpan.FromSeconds(5));
        return _process.ExitCode;
    }

    /// <summary>SIGTERM, then SIGKILL if it has not exited within 10 s.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }
            try
            {
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (TimeoutException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        await _readers.WaitAsync(TimeSpan.FromSeconds(5));
        _process.Dispose();
    }
}
