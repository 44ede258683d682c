using System.Security.Cryptography;
using P2PNet.Testing.Interop;
using P2PNet.Testing.Processes;

namespace P2PNet.Proxy.Tests.Tunnels;

/// <summary>`p2pnet tunnel` as a user runs it (the real tool, separate processes, loopback): its lines and its errors.</summary>
public sealed class TunnelCliTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);
    private readonly string _dir = Directory.CreateTempSubdirectory("p2pnet-tunnel-cli-").FullName;

    private string Db => Path.Combine(_dir, "tunnels.db");

    private async Task<(ChildProcess Server, string Address)> ServeAsync(string ports, params string[] more)
    {
        var server = P2PNetCli.StartProcess(["tunnel", "serve", "--key", Path.Combine(_dir, "server.key"), "--listen", "/ip4/127.0.0.1/tcp/0",
            "--db", Db, "--public-host", "127.0.0.1", "--bind", "127.0.0.1", "--ports", ports, .. more]);
        string line = await server.WaitForLineAsync(l => l.StartsWith("TUNNEL SERVER ", StringComparison.Ordinal), Timeout);
        return (server, line["TUNNEL SERVER ".Length..]);
    }

    private static string RandomPorts(int count)
    {
        int first = RandomNumberGenerator.GetInt32(3200, 4000) * 10;
        return $"{first}-{first + count - 1}";
    }

    [Fact]
    public async Task TokenNew_PrintsTheTokenAloneOnALine_AndASecondTokenForTheSameNameIsAnError()
    {
        var first = await P2PNetCli.RunAsync(["tunnel", "token", "new", "--db", Db, "--name", "dev1"], Timeout);
        Assert.Equal(0, first.ExitCode);
        Assert.Matches("^[A-Za-z0-9_-]{43}$", Assert.Single(first.StdoutLines));

        var second = await P2PNetCli.RunAsync(["tunnel", "token", "new", "--db", Db, "--name", "dev1"], Timeout);
        Assert.NotEqual(0, second.ExitCode);
        Assert.Empty(second.StdoutLines);
        Assert.Equal("error: name taken: device 'dev1' already has a token (revoke it first to issue a new one)", second.Stderr.Trim());

        var revokeUnknown = await P2PNetCli.RunAsync(["tunnel", "token", "revoke", "--db", Db, "--name", "nobody"], Timeout);
        Assert.NotEqual(0, revokeUnknown.ExitCode);
        Assert.Equal("error: no unrevoked token for device 'nobody'", revokeUnknown.Stderr.Trim());
    }

    [Fact]
    public async Task Expose_WithABadToken_OrAnExhaustedRange_PrintsOneErrorLineAndExitsNonZero()
    {
        var token = await P2PNetCli.RunAsync(["tunnel", "token", "new", "--db", Db, "--name", "dev1"], Timeout);
        var (server, address) = await ServeAsync(RandomPorts(1));
        await using var _ = server;

        var bad = await P2PNetCli.RunAsync(["tunnel", "expose", "--server", address, "--token", "wrong", "--tcp", "ssh=127.0.0.1:22"], Timeout);
        Assert.Equal(4, bad.ExitCode);
        Assert.Equal("error: bad token: the token is unknown or revoked", bad.Stderr.Trim());

        var exhausted = await P2PNetCli.RunAsync(["tunnel", "expose", "--server", address, "--token", token.StdoutLines[0],
            "--tcp", "ssh=127.0.0.1:22", "--tcp", "db=127.0.0.1:5432"], Timeout);
        Assert.Equal(1, exhausted.ExitCode);
        Assert.StartsWith("error: range exhausted: no free port in ", exhausted.Stderr.Trim(), StringComparison.Ordinal);
        Assert.Single(exhausted.Stderr.Trim().Split('\n'));

        var noFront = await P2PNetCli.RunAsync(["tunnel", "expose", "--server", address, "--token", token.StdoutLines[0],
            "--http", "web=127.0.0.1:80"], Timeout);
        Assert.Equal(4, noFront.ExitCode);
        Assert.Equal("error: this server has no HTTP front (--http)", noFront.Stderr.Trim());
    }

    [Fact]
    public async Task Expose_WhenTheServerIsUnreachable_PrintsOneErrorLineAndExitsUnreachable()
    {
        using var key = Crypto.PrivateKey.GenerateEd25519();
        using var closed = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        closed.Start();
        int port = ((System.Net.IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop(); // Nothing listens there now.
        var result = await P2PNetCli.RunAsync(["tunnel", "expose", "--server", $"/ip4/127.0.0.1/tcp/{port}/p2p/{key.PublicKey.ToPeerId()}",
            "--token", "t", "--tcp", "ssh=127.0.0.1:22"], Timeout);
        Assert.Equal(3, result.ExitCode);
        var line = Assert.Single(result.Stderr.Trim().Split('\n'));
        Assert.StartsWith("error: server unreachable: ", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ListenAndForward_CarryAConnectionToAListedTarget()
    {
        await using var echo = new TcpEchoServer();
        string forwarderKey = Path.Combine(_dir, "fwd.key");
        var id = await P2PNetCli.RunAsync(["key", "new", "--out", forwarderKey], Timeout);
        await using var listen = P2PNetCli.StartProcess(["tunnel", "listen", "--listen", "/ip4/127.0.0.1/tcp/0",
            "--target", $"echo={echo.EndPoint}", "--allow", id.StdoutLines[0]]);
        string address = (await listen.WaitForLineAsync(l => l.StartsWith("LISTEN ", StringComparison.Ordinal), Timeout))["LISTEN ".Length..];
        await using var forward = P2PNetCli.StartProcess(["tunnel", "forward", "--key", forwarderKey, "--peer", address, "--target", "echo"]);
        string line = await forward.WaitForLineAsync(l => l.StartsWith("FORWARD ", StringComparison.Ordinal), Timeout);
        var local = System.Net.IPEndPoint.Parse(line.Split(' ')[1]);

        using var cts = new CancellationTokenSource(Timeout);
        using var socket = await TunnelLab.ConnectAsync(local.Port, cts.Token);
        await socket.SendAsync("through the peer"u8.ToArray(), System.Net.Sockets.SocketFlags.None, cts.Token);
        Assert.Equal("through the peer"u8.ToArray(), await socket.ReadExactlyAsync(16, cts.Token));

        // Another peer (a new key) is refused: one error line.
        var other = await P2PNetCli.RunAsync(["tunnel", "forward", "--peer", address, "--target", "echo"], Timeout);
        Assert.Equal(4, other.ExitCode);
        Assert.Contains("refused target 'echo': peer not allowed", other.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServeAndExpose_HoldMoreOpenConnectionsThanAHostsDefaultStreamBudgets()
    {
        // Each public connection is a stream on the device's one connection: Yamux's default 1,024 concurrent streams and
        // the resource manager's 512 inbound streams and 64 MiB of buffers per peer would refuse most of these.
        const int count = 1100;
        await using var echo = new TcpEchoServer();
        var token = await P2PNetCli.RunAsync(["tunnel", "token", "new", "--db", Db, "--name", "dev1"], Timeout);
        var (server, address) = await ServeAsync(RandomPorts(2), "--max-connections", "2048");
        await using var _ = server;
        await using var device = P2PNetCli.StartProcess(["tunnel", "expose", "--server", address, "--token", token.StdoutLines[0],
            "--tcp", $"echo={echo.EndPoint}"]);
        string line = await device.WaitForLineAsync(l => l.StartsWith("EXPOSED echo ", StringComparison.Ordinal), Timeout);
        int port = int.Parse(line.Split(':')[^1], System.Globalization.CultureInfo.InvariantCulture);

        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var held = new List<System.Net.Sockets.Socket>();
        try
        {
            // 64 at a time, each kept open after its echo.
            for (int batch = 0; batch < count; batch += 64)
            {
                var opened = await Task.WhenAll(Enumerable.Range(0, Math.Min(64, count - batch)).Select(async _ =>
                {
                    var socket = await TunnelLab.ConnectAsync(port, cts.Token);
                    lock (held)
                    {
                        held.Add(socket);
                    }
                    await socket.SendAsync("x"u8.ToArray(), System.Net.Sockets.SocketFlags.None, cts.Token);
                    return await socket.ReadExactlyAsync(1, cts.Token);
                }));
                Assert.All(opened, echoed => Assert.Equal((byte)'x', echoed[0]));
            }
            Assert.Equal(count, echo.Accepted);
        }
        finally
        {
            lock (held)
            {
                held.ForEach(s => s.Dispose());
            }
        }
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
