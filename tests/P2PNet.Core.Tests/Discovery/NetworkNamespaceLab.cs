using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace P2PNet.Core.Tests.Discovery;

/// <summary>
/// A throw-away link for real multicast: a bridge in the root namespace and one network namespace per node, each
/// joined to the bridge by a veth pair, on a private /24 (10.x.y.0/24, no route to anywhere else). Names are unique per
/// run; everything is deleted on dispose. Needs root: a non-root run fails with a clear message.
/// </summary>
internal sealed class NetworkNamespaceLab : IAsyncDisposable
{
    private readonly string _id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
    private readonly int _subnet = RandomNumberGenerator.GetInt32(1, 250);
    private readonly List<string> _namespaces = [];
    private string _prefix = "p2p";
    private string Bridge => _prefix + "br" + _id;

    [DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint GetEffectiveUserId();

    /// <param name="nodes">Namespaces to create, one per node.</param>
    /// <param name="cancellationToken">Stops the setup.</param>
    /// <param name="prefix">Starts every name (namespaces, bridge, veths): a test's own prefix keeps them apart from
    /// others' (at most 5 characters: interface names are limited to 15).</param>
    public static async Task<NetworkNamespaceLab> CreateAsync(int nodes, CancellationToken cancellationToken, string prefix = "p2p")
    {
        if (GetEffectiveUserId() != 0)
        {
            Assert.Fail("mDNS namespace tests need root (they create network namespaces, a bridge and veth pairs with `ip`); run the tests as root, as CI and ./test.sh do.");
        }
        var lab = new NetworkNamespaceLab { _prefix = prefix };
        try
        {
            await lab.RunAsync(["ip", "link", "add", lab.Bridge, "type", "bridge"], cancellationToken);
            await lab.RunAsync(["ip", "link", "set", lab.Bridge, "up"], cancellationToken);
            for (int i = 0; i < nodes; i++)
            {
                string ns = $"{prefix}ns{lab._id}{i}";
                string outside = $"{prefix}v{lab._id}{i}";
                string inside = $"{prefix}i{lab._id}{i}";
                await lab.RunAsync(["ip", "netns", "add", ns], cancellationToken);
                lab._namespaces.Add(ns);
                await lab.RunAsync(["ip", "link", "add", outside, "type", "veth", "peer", "name", inside], cancellationToken);
                await lab.RunAsync(["ip", "link", "set", inside, "netns", ns], cancellationToken);
                await lab.RunAsync(["ip", "link", "set", outside, "master", lab.Bridge], cancellationToken);
                await lab.RunAsync(["ip", "link", "set", outside, "up"], cancellationToken);
                await lab.RunAsync(["ip", "netns", "exec", ns, "ip", "addr", "add", $"10.213.{lab._subnet}.{i + 10}/24", "dev", inside], cancellationToken);
                await lab.RunAsync(["ip", "netns", "exec", ns, "ip", "link", "set", inside, "up", "multicast", "on"], cancellationToken);
                await lab.RunAsync(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], cancellationToken);
                await lab.RunAsync(["ip", "netns", "exec", ns, "ip", "route", "add", "224.0.0.0/4", "dev", inside], cancellationToken);
            }
            return lab;
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }
    }

    public IReadOnlyList<string> Namespaces => _namespaces;

    /// <summary>Starts <paramref name="command"/> inside namespace <paramref name="index"/>.</summary>
    public LineProcess Start(int index, string name, IReadOnlyList<string> command, string? workingDirectory = null) =>
        LineProcess.Start(name, ["ip", "netns", "exec", _namespaces[index], .. command], workingDirectory);

    /// <summary>Runs <paramref name="command"/> inside namespace <paramref name="index"/> to completion; throws if it fails.</summary>
    public Task ExecAsync(int index, IReadOnlyList<string> command, CancellationToken cancellationToken) =>
        RunAsync(["ip", "netns", "exec", _namespaces[index], .. command], cancellationToken);

    private async Task RunAsync(IReadOnlyList<string> command, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(command[0]) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in command.Skip(1))
        {
            info.ArgumentList.Add(arg);
        }
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {command[0]}");
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken).WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"`{string.Join(' ', command)}` failed ({process.ExitCode}): {await stderr}{await stdout}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var ns in _namespaces)
        {
            await TryRunAsync(["ip", "netns", "del", ns]); // deletes the veth pair with it
        }
        await TryRunAsync(["ip", "link", "del", Bridge]);
    }

    private async Task TryRunAsync(IReadOnlyList<string> command)
    {
        try
        {
            await RunAsync(command, CancellationToken.None);
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
        catch (TimeoutException)
        {
        }
    }
}

/// <summary>A child process whose stdout lines are collected and can be awaited.</summary>
internal sealed class LineProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly StringBuilder _stderr = new();
    private readonly Lock _lock = new();
    private readonly Task _stdout;
    private readonly Task _stderrTask;
    private readonly string _name;

    private LineProcess(string name, Process process)
    {
        _name = name;
        _process = process;
        _stdout = PumpAsync(process.StandardOutput, line => { lock (_lock) { _lines.Add(line); } });
        _stderrTask = PumpAsync(process.StandardError, line => { lock (_lock) { if (_stderr.Length < 64 * 1024) { _stderr.AppendLine(line); } } });
    }

    public static LineProcess Start(string name, IReadOnlyList<string> command, string? workingDirectory)
    {
        var info = new ProcessStartInfo(command[0])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var arg in command.Skip(1))
        {
            info.ArgumentList.Add(arg);
        }
        info.Environment.Remove("DEBUG");
        var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {command[0]}");
        process.StandardInput.Close();
        return new LineProcess(name, process);
    }

    private static async Task PumpAsync(StreamReader reader, Action<string> onLine)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            onLine(line);
        }
    }

    public async Task<string> WaitForLineAsync(Func<string, bool> predicate, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            lock (_lock)
            {
                var found = _lines.FirstOrDefault(predicate);
                if (found is not null)
                {
                    return found;
                }
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{_name} did not print the awaited line within {timeout}.\n{Diagnostics()}");
            }
            if (_process.HasExited && _stdout.IsCompleted)
            {
                throw new InvalidOperationException($"{_name} exited ({_process.ExitCode}) before printing the awaited line.\n{Diagnostics()}");
            }
            await Task.Delay(50);
        }
    }

    /// <summary>The process id (that of the command itself: <c>ip netns exec</c> and <c>env</c> exec it).</summary>
    public int ProcessId => _process.Id;

    /// <summary>The exit code, or <see langword="null"/> while it runs.</summary>
    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    /// <summary>Waits until the process exits.</summary>
    public Task WaitForExitAsync(CancellationToken cancellationToken) => _process.WaitForExitAsync(cancellationToken);

    public string Diagnostics()
    {
        lock (_lock)
        {
            return $"--- {_name} stdout:\n{string.Join('\n', _lines.TakeLast(40))}\n--- {_name} stderr:\n{_stderr.ToString()[^Math.Min(_stderr.Length, 4000)..]}";
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(15));
            await Task.WhenAll(_stdout, _stderrTask).WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException)
        {
        }
        _process.Dispose();
    }
}
