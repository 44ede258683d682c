using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace P2PNet.Testing.Processes;

/// <summary>
/// The one child-process harness of the tests: a running process (a js-libp2p node, <c>p2pnet node</c>,
/// <c>p2pnet vpn up</c> inside a network namespace, the WorkerService sample, …) whose every stdout line is kept
/// (<see cref="Lines"/>) and can be awaited with a timeout (<see cref="WaitForLineAsync(Func{string, bool}, TimeSpan, CancellationToken)"/>);
/// stderr is kept for diagnostics; stdin is closed unless asked for (<see cref="Input"/>). <see cref="StopAsync"/> and
/// disposal send SIGTERM, wait for a clean exit and kill the whole process tree if it does not come;
/// <see cref="ExitCode"/> stays readable afterwards. One-shot commands run with
/// <see cref="RunAsync(string, IEnumerable{string}, TimeSpan, CancellationToken)"/>.
/// </summary>
public sealed class ChildProcess : IAsyncDisposable
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
    private readonly StreamWriter? _input;
    private bool _stdoutClosed;
    private int _disposed;
    private int? _exitCode;
    private List<string> _listenAddresses = [];

    /// <summary>Wraps a process started with stdout and stderr redirected (stdin redirected and still open only when
    /// <paramref name="keepInput"/> is set) and starts reading its output.</summary>
    /// <param name="process">The started process; owned from here on.</param>
    /// <param name="commandLine">The command as started, for messages.</param>
    /// <param name="keepInput">Whether <see cref="Input"/> may be written to.</param>
    public ChildProcess(Process process, string commandLine, bool keepInput = false)
    {
        ArgumentNullException.ThrowIfNull(process);
        _process = process;
        _input = keepInput ? process.StandardInput : null;
        CommandLine = commandLine;
        ProcessId = process.Id;
        _stdoutTask = Task.Run(() => ReadStdoutAsync());
        _stderrTask = Task.Run(() => ReadLinesAsync(process.StandardError, line =>
        {
            lock (_stderr)
            {
                _stderr.AppendLine(line);
            }
        }));
    }

    /// <summary>The command as started.</summary>
    public string CommandLine { get; }

    /// <summary>The process id (that of the command itself: <c>ip netns exec</c> and <c>env</c> exec it).</summary>
    public int ProcessId { get; }

    /// <summary>The process's stdin, when it was started with <c>keepInput</c>.</summary>
    public StreamWriter Input => _input ?? throw new InvalidOperationException($"{CommandLine} was started with its stdin closed");

    /// <summary>The addresses from the LISTEN lines, each ending in <c>/p2p/&lt;peer id&gt;</c>
    /// (after <see cref="StartListeningAsync"/>).</summary>
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
    /// <param name="fragment">Text the address contains.</param>
    public string ListenAddress(string fragment = "/tcp/") =>
        _listenAddresses.FirstOrDefault(a => a.Contains(fragment, StringComparison.Ordinal))
        ?? throw new InvalidOperationException($"no listen address contains '{fragment}': {string.Join(", ", _listenAddresses)}");

    /// <summary>
    /// Starts <paramref name="fileName"/> with <paramref name="arguments"/> (UTF-8 output, <c>DEBUG</c> removed from
    /// its environment) and returns the harness at once.
    /// </summary>
    /// <param name="fileName">The program.</param>
    /// <param name="arguments">Its arguments, passed as they are (no shell).</param>
    /// <param name="keepInput">Keep stdin open for <see cref="Input"/>; otherwise it is closed.</param>
    /// <param name="workingDirectory">The working directory (the current one when null).</param>
    public static ChildProcess Start(string fileName, IEnumerable<string> arguments, bool keepInput = false, string? workingDirectory = null)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var list = arguments.ToList();
        var process = StartProcess(fileName, list, keepInput, workingDirectory);
        return new ChildProcess(process, Describe(fileName, list), keepInput);
    }

    /// <summary>
    /// Runs <paramref name="fileName"/> to completion, collecting its output. Throws <see cref="TimeoutException"/>
    /// (after killing the process tree) when it runs longer than <paramref name="timeout"/>; a non-zero exit is
    /// returned, not thrown (<see cref="ProcessRunResult.EnsureSuccess"/> throws).
    /// </summary>
    /// <param name="fileName">The program.</param>
    /// <param name="arguments">Its arguments.</param>
    /// <param name="timeout">How long it may run.</param>
    /// <param name="cancellationToken">Kills the process and stops waiting.</param>
    public static Task<ProcessRunResult> RunAsync(string fileName, IEnumerable<string> arguments, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var list = arguments.ToList();
        return RunAsync(() => StartProcess(fileName, list, keepInput: false, workingDirectory: null), Describe(fileName, list), timeout, cancellationToken);
    }

    /// <summary>
    /// Returns the first stdout line (already received or still to come) that matches; throws
    /// <see cref="TimeoutException"/> after <paramref name="timeout"/>, or <see cref="InvalidOperationException"/>
    /// if the process closes its stdout first. Messages carry the output so far.
    /// </summary>
    /// <param name="predicate">Which line.</param>
    /// <param name="timeout">How long to wait (<see cref="Timeout.InfiniteTimeSpan"/> when the token bounds the wait).</param>
    /// <param name="cancellationToken">Stops waiting.</param>
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
                waiter.Completion.TrySetException(new InvalidOperationException($"{CommandLine} closed its stdout (exited)"));
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
            throw new TimeoutException($"the process did not print the awaited line within {timeout}.\n{Diagnostics()}", ex);
        }
        catch (OperationCanceledException ex) when (cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"the process did not print the awaited line before the test's deadline.\n{Diagnostics()}", ex);
        }
        catch (InvalidOperationException ex)
        {
            // stdout closed: let stderr catch up (bounded) so the message says why
            try
            {
                await _stderrTask.WaitAsync(TimeSpan.FromSeconds(2), CancellationToken.None).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }

            throw new InvalidOperationException($"the process exited before printing the awaited line.\n{Diagnostics()}", ex);
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
    /// <param name="prefix">How the line starts.</param>
    /// <param name="contains">Text the line contains, or null.</param>
    /// <param name="timeout">How long to wait.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    public Task<string> WaitForLineAsync(string prefix, string? contains, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        WaitForLineAsync(
            l => l.StartsWith(prefix, StringComparison.Ordinal) && (contains == null || l.Contains(contains, StringComparison.Ordinal)),
            timeout,
            cancellationToken);

    /// <summary>Waits for a line starting with <paramref name="prefix"/> until <paramref name="cancellationToken"/>
    /// (a test deadline) fires, which throws <see cref="TimeoutException"/> with the output so far.</summary>
    /// <param name="prefix">How the line starts.</param>
    /// <param name="cancellationToken">The deadline.</param>
    public Task<string> WaitForLineAsync(string prefix, CancellationToken cancellationToken) =>
        WaitForLineAsync(prefix, null, Timeout.InfiniteTimeSpan, cancellationToken);

    /// <summary>Waits for the process to exit on its own and returns its exit code.</summary>
    /// <param name="timeout">How long to wait; <see cref="TimeoutException"/> after it (the process keeps running).</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    public async Task<int> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        try
        {
            await _process.WaitForExitAsync(cancellationToken).WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"the process did not exit within {timeout}.\n{Diagnostics()}", ex);
        }

        // The pipes close right after the exit (bounded: a grandchild may hold them open).
        try
        {
            await Task.WhenAll(_stdoutTask, _stderrTask).WaitAsync(StopTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }

        return ExitCode ?? _process.ExitCode;
    }

    /// <summary>The command line, exit state, stdout and stderr so far (for assertion messages).</summary>
    public string Diagnostics()
    {
        var exit = ExitCode is { } code ? $"exited {code}" : "running";
        return $"{CommandLine} (pid {ProcessId}, {exit})\nstdout:\n{string.Join('\n', Lines)}\nstderr:\n{Stderr}";
    }

    /// <summary>Stops the process like <see cref="DisposeAsync"/> (SIGTERM, then a kill of the tree) and returns
    /// everything it wrote to stderr, including what it printed while stopping.</summary>
    public async Task<string> StopAsync()
    {
        await DisposeAsync().ConfigureAwait(false);
        return Stderr;
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
                    KillQuietly(_process);
                }

                try
                {
                    await _process.WaitForExitAsync().WaitAsync(StopTimeout).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    KillQuietly(_process);
                    await _process.WaitForExitAsync().WaitAsync(StopTimeout).ConfigureAwait(false);
                }
            }

            await Task.WhenAll(_stdoutTask, _stderrTask).WaitAsync(StopTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // nothing more to do: the process was killed, its pipes will close
            KillQuietly(_process);
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

    /// <summary>Wraps a started node process (<c>node.mjs listen</c>, <c>p2pnet node</c>, …) and waits for its
    /// LISTEN lines; disposes it and rethrows when they do not come.</summary>
    internal static async Task<ChildProcess> StartListeningAsync(Process process, string commandLine, TimeSpan startTimeout, CancellationToken cancellationToken)
    {
        var node = new ChildProcess(process, commandLine);
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

    /// <summary>Runs a started process to completion, collecting its output (shared with <see cref="P2PNetCli"/>).</summary>
    internal static async Task<ProcessRunResult> RunAsync(Func<Process> start, string commandLine, TimeSpan timeout, CancellationToken cancellationToken)
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
        await ReadLinesAsync(_process.StandardOutput, line =>
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
                waiter.Completion.TrySetException(new InvalidOperationException("the process closed its stdout (exited)"));
            }
        }
    }

    private static Process StartProcess(string fileName, IReadOnlyList<string> arguments, bool keepInput, string? workingDirectory)
    {
        var info = new ProcessStartInfo(fileName)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            CreateNoWindow = true,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        // Keep a child's own debug logging off whatever the test environment says.
        info.Environment.Remove("DEBUG");
        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {fileName}");
        if (!keepInput)
        {
            process.StandardInput.Close();
        }

        return process;
    }

    private static string Describe(string fileName, IEnumerable<string> arguments) =>
        string.Join(' ', arguments.Prepend(fileName));

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
