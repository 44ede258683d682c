using System.Diagnostics;
using System.Text;

namespace P2PNet.Testing.Interop;

/// <summary>
/// Runs samples/WorkerService (built in the same configuration as the tests) as a separate process through the same
/// <see cref="NodeProcess"/> harness as the CLI: waits for its LISTEN lines, stops it with SIGTERM on disposal.
/// </summary>
public static class WorkerServiceSample
{
    /// <summary>The built <c>P2PNet.WorkerService.dll</c>.</summary>
    public static string Assembly
    {
        get
        {
            // …/tests/<project>/bin/<Configuration>/net10.0/ → the sample's output of the same configuration. The repository
            // root is found from that layout, not through JsLibp2p.RepoRoot, which needs the js interop packages.
            var testOutput = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            string configuration = testOutput.Parent!.Name;
            string root = testOutput.Parent.Parent!.Parent!.Parent!.Parent!.FullName;
            string path = Path.Combine(root, "samples", "WorkerService", "bin", configuration, testOutput.Name, "P2PNet.WorkerService.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException(
                $"The WorkerService sample is not built at {path}: build the solution (dotnet build P2PNet.sln -c {configuration}) first.", path);
        }
    }

    /// <summary>Starts the sample with <paramref name="args"/> (configuration overrides such as
    /// <c>--P2PNet:ListenAddresses:0 /ip4/127.0.0.1/tcp/0</c>) and waits for its LISTEN lines.</summary>
    public static Task<NodeProcess> StartAsync(IEnumerable<string> args, TimeSpan startTimeout, CancellationToken cancellationToken = default)
    {
        var list = args.ToList();
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
        info.ArgumentList.Add(Assembly);
        foreach (var arg in list)
        {
            info.ArgumentList.Add(arg);
        }
        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start dotnet");
        process.StandardInput.Close();
        return JsLibp2p.StartNodeAsync(process, "P2PNet.WorkerService " + string.Join(' ', list), startTimeout, cancellationToken);
    }
}
