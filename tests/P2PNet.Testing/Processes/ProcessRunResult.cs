using System.Text.Json;
using P2PNet.Testing.Interop;

namespace P2PNet.Testing.Processes;

/// <summary>The outcome of a one-shot command run by <see cref="ChildProcess.RunAsync(string, IEnumerable{string}, TimeSpan, CancellationToken)"/>.</summary>
/// <param name="CommandLine">The command as run (for messages).</param>
/// <param name="ExitCode">The exit code (node.mjs and p2pnet: 0 on success, 1 on failure, 2 on bad usage).</param>
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
