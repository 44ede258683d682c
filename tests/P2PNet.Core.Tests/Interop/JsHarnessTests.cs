using System.Text.Json;
using P2PNet.Testing.Interop;

namespace P2PNet.Core.Tests.Interop;

/// <summary>js ↔ js through <see cref="JsLibp2p"/>: proves the interop harness itself works on this machine.</summary>
public sealed class JsHarnessTests : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Run = TimeSpan.FromSeconds(60);

    private readonly string _dir = Directory.CreateTempSubdirectory("p2pnet-js-harness-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Js_listener_answers_js_ping_and_reports_the_peer()
    {
        await using var listener = await JsLibp2p.StartAsync([], Step).WaitAsync(Step);
        var target = listener.ListenAddress("/tcp/");
        Assert.EndsWith("/p2p/" + listener.PeerId, target, StringComparison.Ordinal);
        Assert.StartsWith("/ip4/127.0.0.1/tcp/", target, StringComparison.Ordinal);

        var keyFile = Path.Combine(_dir, "pinger.key");
        var pinger = (await JsLibp2p.RunAsync(["keygen", keyFile], Run).WaitAsync(Run)).EnsureSuccess();
        var pingerId = pinger.StdoutLines.Single()["PEER ".Length..];

        var ping = (await JsLibp2p.RunAsync(["ping", target, "--count", "3", "--key", keyFile], Run).WaitAsync(Run)).EnsureSuccess();
        var rtts = ping.JsonLines.Select(j => j.GetProperty("rtt_ms").GetDouble()).ToArray();
        Assert.Equal(3, rtts.Length);
        Assert.All(rtts, rtt => Assert.InRange(rtt, 0, 10_000));

        await listener.WaitForLineAsync("CONNECT ", pingerId, Step).WaitAsync(Step);
        var identify = await listener.WaitForIdentifyAsync(pingerId, Step).WaitAsync(Step);
        Assert.StartsWith("js-libp2p-interop/", identify.GetProperty("agentVersion").GetString(), StringComparison.Ordinal);
        Assert.Contains("/ipfs/ping/1.0.0", identify.GetProperty("protocols").EnumerateArray().Select(p => p.GetString()));
    }

    [Fact]
    public async Task Js_echo_round_trips_large_and_concurrent_streams()
    {
        await using var listener = await JsLibp2p.StartAsync(["--listen", "/ip4/127.0.0.1/tcp/0"], Step).WaitAsync(Step);
        var target = listener.ListenAddress();

        var large = (await JsLibp2p.RunAsync(["echo", target, "--bytes", (8 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture)], Run)
            .WaitAsync(Run)).EnsureSuccess();
        var result = large.JsonLines.Single();
        Assert.True(result.GetProperty("ok").GetBoolean());
        Assert.Equal(8 * 1024 * 1024, result.GetProperty("bytes").GetInt64());
        Assert.Equal(64, result.GetProperty("sha256").GetString()!.Length);

        var many = (await JsLibp2p.RunAsync(["echo", target, "--bytes", "65536", "--streams", "100"], Run).WaitAsync(Run)).EnsureSuccess();
        Assert.Equal(100, many.JsonLines.Single().GetProperty("streams").GetInt32());
    }

    [Fact]
    public async Task Js_identify_describes_the_listener_over_websockets()
    {
        await using var listener = await JsLibp2p.StartAsync(["--listen", "/ip4/127.0.0.1/tcp/0", "--ws"], Step).WaitAsync(Step);
        var ws = listener.ListenAddress("/ws/");

        var run = (await JsLibp2p.RunAsync(["identify", ws], Run).WaitAsync(Run)).EnsureSuccess();
        var identify = JsLibp2p.ParseJson(run.StdoutLines.Single(l => l.StartsWith("IDENTIFY ", StringComparison.Ordinal)));
        Assert.Equal(listener.PeerId, identify.GetProperty("peer").GetString());
        var listenAddrs = identify.GetProperty("listenAddrs").EnumerateArray().Select(a => a.GetString()).ToArray();
        Assert.Contains(listenAddrs, a => a!.EndsWith("/ws", StringComparison.Ordinal));
        Assert.Equal(JsonValueKind.String, identify.GetProperty("observedAddr").ValueKind);
    }

    [Fact]
    public async Task Js_refuses_a_wrong_peer_id_and_a_wrong_swarm_key()
    {
        var psk = JsLibp2p.WriteSwarmKeyFile(Path.Combine(_dir, "swarm.key"));
        var otherPsk = JsLibp2p.WriteSwarmKeyFile(Path.Combine(_dir, "other.key"));
        await using var listener = await JsLibp2p.StartAsync(["--psk", psk], Step).WaitAsync(Step);
        var target = listener.ListenAddress();

        var ok = await JsLibp2p.RunAsync(["ping", target, "--psk", psk], Run).WaitAsync(Run);
        Assert.True(ok.Succeeded, ok.ToString());

        var wrongKey = await JsLibp2p.RunAsync(["ping", target, "--psk", otherPsk, "--timeout-ms", "15000"], Run).WaitAsync(Run);
        Assert.Equal(1, wrongKey.ExitCode);
        Assert.StartsWith("error:", wrongKey.Stderr, StringComparison.Ordinal);

        var otherId = (await JsLibp2p.RunAsync(["keygen", Path.Combine(_dir, "other.id")], Run).WaitAsync(Run)).EnsureSuccess()
            .StdoutLines.Single()["PEER ".Length..];
        var wrongId = target[..target.LastIndexOf("/p2p/", StringComparison.Ordinal)] + "/p2p/" + otherId;
        var dial = await JsLibp2p.RunAsync(["dial", wrongId, "--psk", psk], Run).WaitAsync(Run);
        Assert.Equal(1, dial.ExitCode);
        Assert.Contains("error:", dial.Stderr, StringComparison.Ordinal);
        Assert.Empty(dial.StdoutLines);
    }

    [Fact]
    public async Task Js_perf_measures_both_directions_and_the_listener_stops_cleanly()
    {
        var listener = await JsLibp2p.StartAsync([], Step).WaitAsync(Step);
        try
        {
            var perf = (await JsLibp2p.RunAsync(["perf", listener.ListenAddress(), "--upload", "10000000", "--download", "20000000"], Run)
                .WaitAsync(Run)).EnsureSuccess();
            var result = perf.JsonLines.Single();
            Assert.Equal(10_000_000, result.GetProperty("upload_bytes").GetInt64());
            Assert.Equal(20_000_000, result.GetProperty("download_bytes").GetInt64());
            Assert.True(result.GetProperty("upload_gbit_s").GetDouble() > 0, perf.ToString());
            Assert.True(result.GetProperty("download_gbit_s").GetDouble() > 0, perf.ToString());
        }
        finally
        {
            await listener.DisposeAsync().AsTask().WaitAsync(Step);
        }

        Assert.True(listener.ExitCode == 0, listener.Diagnostics());
    }

    [Fact]
    public async Task A_listener_that_cannot_start_fails_with_its_stderr()
    {
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(
            () => JsLibp2p.StartAsync(["--listen", "/ip4/127.0.0.1/udp/0/not-a-protocol"], Step).WaitAsync(Step));
        Assert.Contains("error:", ex.Message, StringComparison.Ordinal);
    }
}
