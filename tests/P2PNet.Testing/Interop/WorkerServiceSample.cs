using P2PNet.Testing.Processes;

namespace P2PNet.Testing.Interop;

/// <summary>
/// Runs samples/WorkerService (built in the same configuration as the tests) as a separate process through the same
/// <see cref="ChildProcess"/> harness as the CLI: waits for its LISTEN lines, stops it with SIGTERM on disposal.
/// </summary>
public static class WorkerServiceSample
{
    /// <summary>The built <c>P2PNet.WorkerService.dll</c>.</summary>
    public static string Assembly => P2PNetCli.BuiltAssembly(Path.Combine("samples", "WorkerService"), "P2PNet.WorkerService.dll");

    /// <summary>Starts the sample with <paramref name="args"/> (configuration overrides such as
    /// <c>--P2PNet:ListenAddresses:0 /ip4/127.0.0.1/tcp/0</c>) and waits for its LISTEN lines.</summary>
    public static Task<ChildProcess> StartAsync(IEnumerable<string> args, TimeSpan startTimeout, CancellationToken cancellationToken = default)
    {
        var list = args.ToList();
        var process = P2PNetCli.StartDotnet(Assembly, list);
        return ChildProcess.StartListeningAsync(process, "P2PNet.WorkerService " + string.Join(' ', list), startTimeout, cancellationToken);
    }
}
