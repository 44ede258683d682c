using System.Diagnostics;
using System.Text.Json;
using P2PNet.Testing.Interop;
using P2PNet.Testing.Processes;
using Xunit.Abstractions;

namespace P2PNet.Swarm.Tests;

/// <summary>
/// The control socket of a real <c>p2pnet swarm serve</c> (run as root by the tests) against a client run as
/// <c>nobody</c> through <c>setpriv</c>: the private directory keeps it out, and when the directory is opened up the
/// uid check (SO_PEERCRED) still refuses it while the owner's own user is served.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class SwarmControlSocketTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(60);
    private const UnixFileMode Open = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    /// <summary>Connects to the socket given as argv[1] and sends argv[2] as one line; prints the reply, or EACCES (exit 3).</summary>
    private const string Client = """
        import socket, sys
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(sys.argv[1])
        except PermissionError:
            print("EACCES"); sys.exit(3)
        s.sendall(sys.argv[2].encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
        print(reply.decode().strip())
        """;

    private readonly string _directory = Directory.CreateTempSubdirectory("p2pnet-swarm-ctl-").FullName;

    [Fact]
    public async Task ControlSocket_IsInAPrivateDirectory_AndRefusesAnotherUidEvenWhenReachable()
    {
        Assert.True(Environment.UserName == "root" && File.Exists("/usr/bin/setpriv") && File.Exists("/usr/bin/python3"),
            "needs root, setpriv and /usr/bin/python3 to run a client as nobody");
        File.SetUnixFileMode(_directory, Open); // only the control directory itself stands between nobody and the socket
        string key = Path.Combine(_directory, "owner.key"), db = Path.Combine(_directory, "owner.db");
        await RunAsync("key", "new", "--out", key);
        var init = (await RunAsync("swarm", "init", "--db", db, "--key", key, "--id", "ctl")).JsonLines[^1];
        string fingerprint = init.GetProperty("key_fingerprint").GetString()!;
        await using var serve = await P2PNetCli.StartAsync(["swarm", "serve", "--db", db, "--key", key, "--listen", "/ip4/127.0.0.1/tcp/0"], Step).WaitAsync(Step);
        string controlDirectory = db + ".ctl", socket = Path.Combine(controlDirectory, "socket");

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(controlDirectory));
        Assert.True(File.Exists(socket));
        var (blocked, blockedCode) = await RunClientAsync(asNobody: true, socket, """{"command":"rotate"}""");
        Assert.Equal(3, blockedCode);
        Assert.Equal("EACCES", blocked);

        // Opened up (by mistake, or by a user who controls the directory): the uid check still refuses.
        File.SetUnixFileMode(controlDirectory, Open);
        File.SetUnixFileMode(socket, Open | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite);
        var (refused, refusedCode) = await RunClientAsync(asNobody: true, socket, """{"command":"rotate"}""");
        Assert.Equal(0, refusedCode);
        Assert.Contains("refused", JsonDocument.Parse(refused).RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);

        var (status, statusCode) = await RunClientAsync(asNobody: false, socket, """{"command":"status"}""");
        Assert.Equal(0, statusCode);
        Assert.Equal(fingerprint, JsonDocument.Parse(status).RootElement.GetProperty("key_fingerprint").GetString());
        Assert.Contains("refused a control request", serve.Stderr, StringComparison.Ordinal);
    }

    private async Task<ProcessRunResult> RunAsync(params string[] args)
    {
        var result = await P2PNetCli.RunAsync(args, Step).WaitAsync(Step);
        output.WriteLine($"$ {result.CommandLine} → {result.ExitCode}\n{result.Stdout}\n{result.Stderr}");
        return result.EnsureSuccess();
    }

    private async Task<(string Output, int ExitCode)> RunClientAsync(bool asNobody, string socket, string request)
    {
        var info = new ProcessStartInfo(asNobody ? "/usr/bin/setpriv" : "/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        if (asNobody)
        {
            foreach (var arg in new[] { "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3" })
            {
                info.ArgumentList.Add(arg);
            }
        }
        foreach (var arg in new[] { "-c", Client, socket, request })
        {
            info.ArgumentList.Add(arg);
        }
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(Step);
        string text = (await stdout.WaitAsync(Step)).Trim();
        output.WriteLine($"client ({(asNobody ? "nobody" : "root")}) → {process.ExitCode}: {text} {await stderr.WaitAsync(Step)}");
        return (text, process.ExitCode);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
