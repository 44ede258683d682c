using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Testing.Interop;

namespace P2PNet.Core.Tests.Cli;

/// <summary>
/// The <c>p2pnet</c> exit codes scripts rely on (0 ok, 1 general, 2 usage, 3 unreachable or timed out, 4 refused,
/// 5 protocol error), each provoked for real against the real process, and <c>--timeout</c>.
/// </summary>
public sealed class CliExitCodeTests : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Run = TimeSpan.FromSeconds(120);
    private readonly string _dir = Directory.CreateTempSubdirectory("p2pnet-exit-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task UsageErrors_ExitTwo_WithOneErrorLine()
    {
        var unknownOption = await P2PNetCli.RunAsync(["id", "--key", "x.key", "--no-such-option"], Run).WaitAsync(Run);
        Assert.Equal(2, unknownOption.ExitCode);
        Assert.StartsWith("error: ", unknownOption.Stderr.Trim(), StringComparison.Ordinal);

        var missingRequired = await P2PNetCli.RunAsync(["key", "new"], Run).WaitAsync(Run);
        Assert.Equal(2, missingRequired.ExitCode);

        var badValue = await P2PNetCli.RunAsync(["ping", "/ip4/127.0.0.1/tcp/1", "--count", "0"], Run).WaitAsync(Run);
        Assert.Equal(2, badValue.ExitCode);
        Assert.Contains("--count", badValue.Stderr, StringComparison.Ordinal);

        var badAddress = await P2PNetCli.RunAsync(["ping", "/ip4/999.1.1.1/tcp/1"], Run).WaitAsync(Run);
        Assert.Equal(2, badAddress.ExitCode);
        Assert.Contains("bad multiaddr", badAddress.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_DocumentsTheExitCodes()
    {
        var help = (await P2PNetCli.RunAsync(["--help"], Run).WaitAsync(Run)).EnsureSuccess();
        Assert.Contains("3 unreachable or timed out", help.Stdout, StringComparison.Ordinal);
        Assert.Contains("4 refused", help.Stdout, StringComparison.Ordinal);
        Assert.Contains("5 protocol error", help.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ping_ToAClosedPort_ExitsThree()
    {
        int port = ClosedPort();
        var result = await P2PNetCli.RunAsync(["ping", $"/ip4/127.0.0.1/tcp/{port}"], Run).WaitAsync(Run);
        Assert.Equal(3, result.ExitCode);
        Assert.StartsWith("error: ", result.Stderr.Trim(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ping_WithTimeout_ToAPeerThatNeverAnswers_ExitsThreeNamingTheTimeout()
    {
        // Accepts TCP and then says nothing: without --timeout the dial would wait for the host's own handshake timeout.
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var accepted = new List<Socket>();
        var accepting = AcceptForeverAsync(silent, accepted);
        try
        {
            int port = ((IPEndPoint)silent.LocalEndpoint).Port;
            var result = await P2PNetCli.RunAsync(["ping", $"/ip4/127.0.0.1/tcp/{port}", "--timeout", "1"], Run).WaitAsync(Run);
            Assert.Equal(3, result.ExitCode);
            Assert.Contains("--timeout", result.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            silent.Stop();
            await accepting.WaitAsync(Step);
            accepted.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task Timeout_ThatIsNotPositive_IsAUsageError()
    {
        var result = await P2PNetCli.RunAsync(["ping", "/ip4/127.0.0.1/tcp/1", "--timeout", "0"], Run).WaitAsync(Run);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--timeout", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClientCommands_WithAGenerousTimeout_Succeed()
    {
        await using var node = await P2PNetCli.StartNodeAsync([], Step).WaitAsync(Step);
        string target = node.ListenAddress();
        (await P2PNetCli.RunAsync(["ping", target, "--timeout", "100"], Run).WaitAsync(Run)).EnsureSuccess();
        (await P2PNetCli.RunAsync(["echo", target, "--bytes", "1000", "--timeout", "100"], Run).WaitAsync(Run)).EnsureSuccess();
        (await P2PNetCli.RunAsync(["perf", target, "--upload", "1000", "--download", "1000", "--timeout", "100"], Run).WaitAsync(Run)).EnsureSuccess();
    }

    [Fact]
    public async Task Ping_WithWrongPeerId_ExitsFour()
    {
        await using var node = await P2PNetCli.StartNodeAsync([], Step).WaitAsync(Step);
        using var stranger = PrivateKey.GenerateEd25519();
        var wrong = Multiaddr.Parse(node.ListenAddress()).WithPeerId(stranger.PublicKey.ToPeerId());
        var result = await P2PNetCli.RunAsync(["ping", wrong.ToString()], Run).WaitAsync(Run);
        Assert.Equal(4, result.ExitCode);
        Assert.Contains(stranger.PublicKey.ToPeerId().ToString(), result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SwarmJoin_OfAnUnauthorisedPeer_ExitsFour()
    {
        string ownerKey = Path.Combine(_dir, "owner.key"), strangerKey = Path.Combine(_dir, "stranger.key");
        (await P2PNetCli.RunAsync(["key", "new", "--out", ownerKey], Run).WaitAsync(Run)).EnsureSuccess();
        (await P2PNetCli.RunAsync(["key", "new", "--out", strangerKey], Run).WaitAsync(Run)).EnsureSuccess();
        string ownerDb = Path.Combine(_dir, "owner.db");
        (await P2PNetCli.RunAsync(["swarm", "init", "--db", ownerDb, "--key", ownerKey, "--id", "lab"], Run).WaitAsync(Run)).EnsureSuccess();
        await using var owner = await P2PNetCli.StartAsync(["swarm", "serve", "--db", ownerDb, "--key", ownerKey, "--public"], Step).WaitAsync(Step);

        var join = await P2PNetCli.RunAsync(["swarm", "join", "--db", Path.Combine(_dir, "stranger.db"), "--key", strangerKey,
            "--swarm", "lab", "--owner", owner.ListenAddress()], Run).WaitAsync(Run);
        Assert.Equal(4, join.ExitCode);
        Assert.StartsWith("error: ", join.Stderr.Trim(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Echo_ToAHostWithoutTheProtocol_ExitsFive()
    {
        await using var host = new P2PHost();
        var bound = await host.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")).AsTask().WaitAsync(Step);
        var result = await P2PNetCli.RunAsync(["echo", bound[0].ToString(), "--bytes", "10"], Run).WaitAsync(Run);
        Assert.Equal(5, result.ExitCode);
        Assert.Contains("protocol not supported", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ping_ToAServerSpeakingAnotherProtocol_ExitsFive()
    {
        using var http = new TcpListener(IPAddress.Loopback, 0);
        http.Start();
        var accepted = new List<Socket>();
        var answering = AnswerGarbageAsync(http, accepted);
        int port = ((IPEndPoint)http.LocalEndpoint).Port;
        var result = await P2PNetCli.RunAsync(["ping", $"/ip4/127.0.0.1/tcp/{port}"], Run).WaitAsync(Run);
        http.Stop();
        await answering.WaitAsync(Step);
        accepted.ForEach(s => s.Dispose());
        Assert.Equal(5, result.ExitCode);
    }

    [Fact]
    public async Task Id_OfAGarbageKeyFile_ExitsOne()
    {
        string garbage = Path.Combine(_dir, "garbage.key");
        await File.WriteAllBytesAsync(garbage, [1, 2, 3]);
        var result = await P2PNetCli.RunAsync(["id", "--key", garbage], Run).WaitAsync(Run);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("garbage.key", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Errors_WithJson_AreOneJsonLineCarryingTheExitCode()
    {
        int port = ClosedPort();
        var result = await P2PNetCli.RunAsync(["ping", $"/ip4/127.0.0.1/tcp/{port}", "--json"], Run).WaitAsync(Run);
        Assert.Equal(3, result.ExitCode);
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        using var json = JsonDocument.Parse(line);
        Assert.Equal("error", json.RootElement.GetProperty("type").GetString());
        Assert.Equal(3, json.RootElement.GetProperty("exit_code").GetInt32());
        Assert.False(string.IsNullOrEmpty(json.RootElement.GetProperty("message").GetString()));
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task AcceptForeverAsync(TcpListener listener, List<Socket> accepted)
    {
        try
        {
            while (true)
            {
                accepted.Add(await listener.AcceptSocketAsync());
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // stopped
        }
    }

    private static async Task AnswerGarbageAsync(TcpListener listener, List<Socket> accepted)
    {
        try
        {
            while (true)
            {
                // Kept open (closing with unread input would reset the connection and hide the garbage).
                var client = await listener.AcceptSocketAsync();
                accepted.Add(client);
                await client.SendAsync("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"u8.ToArray());
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // stopped
        }
    }
}
