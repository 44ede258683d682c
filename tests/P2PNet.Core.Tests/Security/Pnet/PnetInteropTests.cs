using Xunit.Abstractions;
using System.Diagnostics;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Protocols.Ping;
using P2PNet.Security.Pnet;
using P2PNet.Testing;
using P2PNet.Testing.Interop;

namespace P2PNet.Core.Tests.Pnet;

/// <summary>PSK v1 against js-libp2p's <c>@libp2p/pnet</c>, both directions.</summary>
public sealed class PnetInteropTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Run = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan FailFast = TimeSpan.FromSeconds(20);

    private readonly string _dir = Directory.CreateTempSubdirectory("p2pnet-pnet-interop-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<P2PHost> StartHostAsync(SwarmKey? key, bool listen)
    {
        var options = new P2PHostOptions { PrivateNetworkKey = key, HandshakeTimeout = TimeSpan.FromSeconds(5) };
        if (listen)
        {
            options.ListenAddresses.Add(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
        }
        var host = new P2PHost(options, XunitLoggerProvider.CreateFactory(output));
        await host.StartAsync().AsTask().WaitAsync(Step);
        return host;
    }

    [Fact]
    public async Task P2PNetDial_ToJsListenerWithSameKey_Pings_AndWithOtherKey_FailsFast()
    {
        var keyFile = JsLibp2p.WriteSwarmKeyFile(Path.Combine(_dir, "swarm.key"));
        var key = SwarmKey.ReadFile(keyFile);
        await using var js = await JsLibp2p.StartAsync(["--listen", "/ip4/127.0.0.1/tcp/0", "--psk", keyFile], Step).WaitAsync(Step);
        var target = Multiaddr.Parse(js.ListenAddress("/tcp/"));

        await using (var member = await StartHostAsync(key, listen: false))
        {
            var connection = await member.DialAsync(target).AsTask().WaitAsync(Step);
            Assert.Equal(key, connection.PrivateNetworkKey);
            using var cts = new CancellationTokenSource(Step);
            int pings = 0;
            await foreach (var _ in PingProtocol.PingAsync(connection, 3).WithCancellation(cts.Token))
            {
                pings++;
            }
            Assert.Equal(3, pings);
        }

        await using var stranger = await StartHostAsync(SwarmKey.Generate(), listen: false);
        var watch = Stopwatch.StartNew();
        // js-libp2p reads the stranger's bytes as noise and keeps the socket open, so the refusal is either the remote
        // closing (IOException) or our own handshake timeout (5 s here) — never the test's 30 s wait, which is a hang.
        var refusal = await Assert.ThrowsAnyAsync<Exception>(() => stranger.DialAsync(target).AsTask().WaitAsync(Step));
        Assert.True(refusal is IOException || refusal is TimeoutException && refusal.Message.Contains("handshake", StringComparison.Ordinal),
            $"not a refusal: {refusal}");
        Assert.True(watch.Elapsed < FailFast, $"the refused dial took {watch.Elapsed}");
        Assert.False(js.HasExited);
    }

    [Fact]
    public async Task JsPing_ToP2PNetListenerWithSameKey_Works_AndWithOtherKey_FailsFast()
    {
        var keyFile = JsLibp2p.WriteSwarmKeyFile(Path.Combine(_dir, "swarm.key"));
        var otherFile = JsLibp2p.WriteSwarmKeyFile(Path.Combine(_dir, "other.key"));
        await using var host = await StartHostAsync(SwarmKey.ReadFile(keyFile), listen: true);
        var target = host.ListenAddresses[0].ToString();

        var ok = (await JsLibp2p.RunAsync(["ping", target, "--count", "3", "--psk", keyFile], Run).WaitAsync(Run)).EnsureSuccess();
        Assert.Equal(3, ok.JsonLines.Count);

        var watch = Stopwatch.StartNew();
        var wrong = await JsLibp2p.RunAsync(["ping", target, "--psk", otherFile, "--timeout-ms", "15000"], Run).WaitAsync(Run);
        Assert.False(wrong.Succeeded, wrong.ToString());
        Assert.True(watch.Elapsed < FailFast, $"the refused js ping took {watch.Elapsed}");

        var again = (await JsLibp2p.RunAsync(["ping", target, "--psk", keyFile], Run).WaitAsync(Run)).EnsureSuccess();
        Assert.Single(again.JsonLines);
    }
}
