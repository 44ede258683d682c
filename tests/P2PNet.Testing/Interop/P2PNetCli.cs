using System.Diagnostics;
using System.Text;
using P2PNet.Testing.Processes;

namespace P2PNet.Testing.Interop;

/// <summary>
/// Runs the real <c>p2pnet</c> command-line tool (samples/P2PNet.Cli, built in the same configuration as the tests)
/// as a separate process: <c>node</c> as a long-running <see cref="ChildProcess"/>, other commands to completion.
/// </summary>
public static class P2PNetCli
{
    /// <summary>The built <c>p2pnet.dll</c>.</summary>
    public static string Assembly => BuiltAssembly(Path.Combine("samples", "P2PNet.Cli"), "p2pnet.dll");

    /// <summary>
    /// The output of a project of this repository built in the tests' own configuration
    /// (…/tests/&lt;project&gt;/bin/&lt;Configuration&gt;/net10.0/ → &lt;project&gt;/bin/&lt;Configuration&gt;/net10.0/).
    /// </summary>
    internal static string BuiltAssembly(string projectDirectory, string fileName)
    {
        var testOutput = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string configuration = RepositoryRoot.Configuration;
        string path = Path.Combine(RepositoryRoot.Path, projectDirectory, "bin", configuration, testOutput.Name, fileName);
        return File.Exists(path) ? path : throw new FileNotFoundException(
            $"{fileName} is not built at {path}: build the solution (dotnet build P2PNet.sln -c {configuration}) first.", path);
    }

    /// <summary>Starts <c>p2pnet node ARGS</c> and waits for its LISTEN lines.</summary>
    public static Task<ChildProcess> StartNodeAsync(IEnumerable<string> args, TimeSpan startTimeout, CancellationToken cancellationToken = default) =>
        StartAsync(args.Prepend("node"), startTimeout, cancellationToken);

    /// <summary>
    /// Starts a long-running <c>p2pnet ARGS</c> (<c>node</c>, <c>swarm serve</c>, <c>swarm join</c>, …) and waits for
    /// its LISTEN lines; throws with its stderr if it exits first.
    /// </summary>
    public static Task<ChildProcess> StartAsync(IEnumerable<string> args, TimeSpan startTimeout, CancellationToken cancellationToken = default)
    {
        var list = args.ToList();
        return ChildProcess.StartListeningAsync(Start(list), "p2pnet " + string.Join(' ', list), startTimeout, cancellationToken);
    }

    /// <summary>
    /// Starts a long-running <c>p2pnet ARGS</c> without waiting for anything (e.g. with <c>--json</c>, which prints no
    /// LISTEN lines): wait for its output with <see cref="ChildProcess.WaitForLineAsync(Func{string, bool}, TimeSpan, CancellationToken)"/>.
    /// </summary>
    public static ChildProcess StartProcess(IEnumerable<string> args)
    {
        var list = args.ToList();
        return new ChildProcess(Start(list), "p2pnet " + string.Join(' ', list));
    }

    /// <summary>Runs <c>p2pnet ARGS</c> to completion (a non-zero exit is returned, not thrown).</summary>
    public static Task<ProcessRunResult> RunAsync(IEnumerable<string> args, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var list = args.ToList();
        return ChildProcess.RunAsync(() => Start(list), "p2pnet " + string.Join(' ', list), timeout, cancellationToken);
    }

    private static Process Start(IReadOnlyList<string> args) => StartDotnet(Assembly, args);

    /// <summary>Starts <c>dotnet ASSEMBLY ARGS</c> with stdout and stderr redirected (UTF-8) and stdin closed.</summary>
    internal static Process StartDotnet(string assembly, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            CreateNoWindow = true,
        };
        info.ArgumentList.Add(assembly);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start dotnet");
        process.StandardInput.Close();
        return process;
    }
}
