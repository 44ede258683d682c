using System.Globalization;
using P2PNet.Crypto;
using P2PNet.Multiformats;
using P2PNet.Testing.Interop;

namespace P2PNet.Core.Tests.Interop;

/// <summary>The <c>p2pnet</c> CLI's contract, run as a real process, against stock js-libp2p nodes in both directions.</summary>
public sealed class CliInteropTests : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Run = TimeSpan.FromSeconds(90);
    private readonly string _dir = Directory.CreateTempSubdirectory("p2pnet-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Node_IsUsableFromJs_ForPingIdentifyEchoAndPerf()
    {
        await using var node = await P2PNetCli.StartNodeAsync([], Step).WaitAsync(Step);
        string target = node.ListenAddress();
        Assert.StartsWith("/ip4/127.0.0.1/tcp/", target, StringComparison.Ordinal);
        Assert.Contains("/p2p/12D3KooW", target, StringComparison.Ordinal);

        (await JsLibp2p.RunAsync(["ping", target, "--count", "2"], Run).WaitAsync(Run)).EnsureSuccess();
        var identify = JsLibp2p.ParseJson((await JsLibp2p.RunAsync(["identify", target], Run).WaitAsync(Run)).EnsureSuccess()
            .StdoutLines.Single(l => l.StartsWith("IDENTIFY ", StringComparison.Ordinal)));
        var protocols = identify.GetProperty("protocols").EnumerateArray().Select(p => p.GetString()).ToArray();
        Assert.Contains("/echo/1.0.0", protocols);
        Assert.Contains("/perf/1.0.0", protocols);
        Assert.StartsWith("p2pnet-cli/", identify.GetProperty("agentVersion").GetString(), StringComparison.Ordinal);
        var echo = (await JsLibp2p.RunAsync(["echo", target, "--bytes", "8388608"], Run).WaitAsync(Run)).EnsureSuccess().JsonLines.Single();
        Assert.True(echo.GetProperty("ok").GetBoolean());
        var perf = (await JsLibp2p.RunAsync(["perf", target, "--upload", "16777216", "--download", "16777216"], Run).WaitAsync(Run)).EnsureSuccess().JsonLines.Single();
        Assert.Equal(16777216, perf.GetProperty("download_bytes").GetInt64());
    }

    [Fact]
    public async Task Node_ExitsZero_OnSigterm()
    {
        var node = await P2PNetCli.StartNodeAsync([], Step).WaitAsync(Step);
        await node.DisposeAsync(); // SIGTERM, then waits
        Assert.Equal(0, node.ExitCode);
    }

    [Fact]
    public async Task PingPerfEcho_WorkAgainstAJsNode()
    {
        await using var js = await JsLibp2p.StartAsync([], Step).WaitAsync(Step);
        string target = js.ListenAddress();

        var ping = (await P2PNetCli.RunAsync(["ping", target, "--count", "3"], Run).WaitAsync(Run)).EnsureSuccess();
        Assert.Equal(3, ping.JsonLines.Count);
        Assert.All(ping.JsonLines, j => Assert.True(j.GetProperty("rtt_ms").GetDouble() > 0));

        var echo = (await P2PNetCli.RunAsync(["echo", target, "--bytes", "8388608"], Run).WaitAsync(Run)).EnsureSuccess().JsonLines.Single();
        Assert.True(echo.GetProperty("ok").GetBoolean());
        Assert.Equal(8388608, echo.GetProperty("bytes").GetInt64());

        var perf = (await P2PNetCli.RunAsync(["perf", target, "--upload", "16777216", "--download", "16777216"], Run).WaitAsync(Run)).EnsureSuccess().JsonLines.Single(j => !j.TryGetProperty("type", out _)); // the result, after any progress lines
        Assert.Equal(16777216, perf.GetProperty("upload_bytes").GetInt64());
        Assert.Equal(16777216, perf.GetProperty("download_bytes").GetInt64());
        Assert.True(perf.GetProperty("seconds").GetDouble() > 0);
        Assert.True(perf.GetProperty("download_gbit_s").GetDouble() > 0);
    }

    [Fact]
    public async Task Ping_WithAnInterval_WaitsBetweenPingsOnOneStream_AndRefusesBadIntervals()
    {
        await using var node = await P2PNetCli.StartNodeAsync([], Step).WaitAsync(Step);
        string target = node.ListenAddress();

        var started = System.Diagnostics.Stopwatch.StartNew();
        var ping = (await P2PNetCli.RunAsync(["ping", target, "--count", "4", "--interval", "300"], Run).WaitAsync(Run)).EnsureSuccess();
        Assert.Equal(4, ping.JsonLines.Count);
        Assert.All(ping.JsonLines, j => Assert.True(j.GetProperty("rtt_ms").GetDouble() > 0));
        Assert.True(started.Elapsed >= TimeSpan.FromMilliseconds(900), $"three waits of 300 ms took {started.Elapsed}"); // none after the last

        foreach (string bad in new[] { "-1", "NaN", "3600001" })
        {
            var refused = await P2PNetCli.RunAsync(["ping", target, "--interval", bad], Run).WaitAsync(Run);
            Assert.NotEqual(0, refused.ExitCode);
            Assert.Contains("--interval", refused.Stderr, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Ping_WithWrongPeerId_FailsWithOneClearLine()
    {
        await using var js = await JsLibp2p.StartAsync([], Step).WaitAsync(Step);
        using var stranger = PrivateKey.GenerateEd25519();
        var wrong = Multiaddr.Parse(js.ListenAddress()).WithPeerId(stranger.PublicKey.ToPeerId());
        var result = await P2PNetCli.RunAsync(["ping", wrong.ToString()], Run).WaitAsync(Run);
        Assert.NotEqual(0, result.ExitCode);
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: ", line, StringComparison.Ordinal);
        Assert.Contains(stranger.PublicKey.ToPeerId().ToString(), line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Errors_AreOneLineAndNonZero_ForBadInput()
    {
        int port = FreePort();
        var unreachable = await P2PNetCli.RunAsync(["ping", $"/ip4/127.0.0.1/tcp/{port}"], Run).WaitAsync(Run);
        Assert.NotEqual(0, unreachable.ExitCode);
        Assert.StartsWith("error: ", unreachable.Stderr.Trim(), StringComparison.Ordinal);

        var badAddress = await P2PNetCli.RunAsync(["ping", "/ip4/999.1.1.1/tcp/1"], Run).WaitAsync(Run);
        Assert.NotEqual(0, badAddress.ExitCode);
        Assert.Contains("bad multiaddr", badAddress.Stderr, StringComparison.Ordinal);

        string garbage = Path.Combine(_dir, "garbage.key");
        await File.WriteAllBytesAsync(garbage, [1, 2, 3]);
        var badKey = await P2PNetCli.RunAsync(["id", "--key", garbage], Run).WaitAsync(Run);
        Assert.NotEqual(0, badKey.ExitCode);
        Assert.Contains("garbage.key", badKey.Stderr, StringComparison.Ordinal);

        // A host that serves no /echo/1.0.0: the CLI says the protocol is not supported.
        await using var host = new P2PNet.Host.P2PHost();
        var bound = await host.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")).AsTask().WaitAsync(Step);
        var unsupported = await P2PNetCli.RunAsync(["echo", bound[0].ToString(), "--bytes", "10"], Run).WaitAsync(Run);
        Assert.NotEqual(0, unsupported.ExitCode);
        Assert.Contains("protocol not supported", unsupported.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KeyNew_WritesAKeyWhosePeerIdIdPrints_AndJsAcceptsIt()
    {
        string keyFile = Path.Combine(_dir, "node.key");
        var created = (await P2PNetCli.RunAsync(["key", "new", "--out", keyFile], Run).WaitAsync(Run)).EnsureSuccess();
        string peerId = created.StdoutLines.Single();
        Assert.StartsWith("12D3KooW", peerId, StringComparison.Ordinal);
        var id = (await P2PNetCli.RunAsync(["id", "--key", keyFile], Run).WaitAsync(Run)).EnsureSuccess();
        Assert.Equal(peerId, id.StdoutLines.Single());
        Assert.Equal(peerId, PrivateKey.ReadFile(keyFile).PublicKey.ToPeerId().ToString());

        // The same key drives a node whose LISTEN lines carry that id.
        await using var node = await P2PNetCli.StartNodeAsync(["--key", keyFile], Step).WaitAsync(Step);
        Assert.EndsWith("/p2p/" + peerId, node.ListenAddress(), StringComparison.Ordinal);

        // Refuses to overwrite without --force.
        var again = await P2PNetCli.RunAsync(["key", "new", "--out", keyFile], Run).WaitAsync(Run);
        Assert.NotEqual(0, again.ExitCode);
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
