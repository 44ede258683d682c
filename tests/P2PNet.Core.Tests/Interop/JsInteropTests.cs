using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Protocols.Echo;
using P2PNet.Protocols.Perf;
using P2PNet.Protocols.Ping;
using P2PNet.Testing;
using P2PNet.Testing.Interop;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.Interop;

/// <summary>
/// A P2PNet host (in-process) against stock js-libp2p 3.x nodes (TCP, @chainsafe/libp2p-noise, @chainsafe/libp2p-yamux,
/// @libp2p/identify, @libp2p/ping), in both directions.
/// </summary>
public sealed class JsInteropTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Run = TimeSpan.FromSeconds(90);
    private const int EightMiB = 8 * 1024 * 1024;

    private async Task<P2PHost> StartHostAsync()
    {
        var options = new P2PHostOptions { EnablePerf = true, AgentVersion = "p2pnet-interop-test/1.0" };
        options.ListenAddresses.Add(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
        var host = new P2PHost(options, XunitLoggerProvider.CreateFactory(output));
        host.SetStreamHandler(EchoProtocol.Id, EchoProtocol.HandleAsync);
        await host.StartAsync().AsTask().WaitAsync(Step);
        return host;
    }

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);

    // ---- js dials P2PNet ----

    [Fact]
    public async Task JsPing_ToP2PNetHost_Succeeds()
    {
        await using var host = await StartHostAsync();
        var result = (await JsLibp2p.RunAsync(["ping", host.ListenAddresses[0].ToString(), "--count", "3"], Run).WaitAsync(Run)).EnsureSuccess();
        Assert.Equal(3, result.JsonLines.Count);
        Assert.All(result.JsonLines, j => Assert.True(j.GetProperty("rtt_ms").GetDouble() >= 0));
    }

    [Fact]
    public async Task JsIdentify_SeesOurAgentProtocolsAndAddresses_AndWeSeeTheirs()
    {
        await using var host = await StartHostAsync();
        var identified = new TaskCompletionSource<PeerIdentificationCompleted>(TaskCreationOptions.RunContinuationsAsynchronously);
        host.Events.Subscribe<PeerIdentificationCompleted>(e => identified.TrySetResult(e));

        // --linger-ms: the js node stays connected after its own identify, so ours of it is not cut off by its exit.
        var result = (await JsLibp2p.RunAsync(["identify", host.ListenAddresses[0].ToString(), "--linger-ms", "3000"], Run).WaitAsync(Run)).EnsureSuccess();
        var line = result.StdoutLines.Single(l => l.StartsWith("IDENTIFY ", StringComparison.Ordinal));
        var json = JsLibp2p.ParseJson(line);
        Assert.Equal(host.PeerId.ToString(), json.GetProperty("peer").GetString());
        Assert.Equal("p2pnet-interop-test/1.0", json.GetProperty("agentVersion").GetString());
        Assert.Equal("ipfs/0.1.0", json.GetProperty("protocolVersion").GetString());
        var protocols = json.GetProperty("protocols").EnumerateArray().Select(p => p.GetString()).ToArray();
        Assert.Contains(PingProtocol.Id, protocols);
        Assert.Contains("/ipfs/id/1.0.0", protocols);
        Assert.Contains(EchoProtocol.Id, protocols);
        var listen = json.GetProperty("listenAddrs").EnumerateArray().Select(p => p.GetString()).ToArray();
        Assert.Contains(host.ListenAddresses[0].WithoutPeerId().ToString(), listen);

        // And the P2PNet side identified the js node.
        var seen = await identified.Task.WaitAsync(Step);
        Assert.StartsWith("js-libp2p-interop/", seen.Record.AgentVersion, StringComparison.Ordinal);
        Assert.Contains(PingProtocol.Id, seen.Record.Protocols);
    }

    [Fact]
    public async Task JsEcho_OfEightMebibytes_ComesBackIdentical()
    {
        await using var host = await StartHostAsync();
        var result = (await JsLibp2p.RunAsync(["echo", host.ListenAddresses[0].ToString(), "--bytes", Invariant(EightMiB)], Run).WaitAsync(Run)).EnsureSuccess();
        var json = result.JsonLines.Single();
        Assert.True(json.GetProperty("ok").GetBoolean());
        Assert.Equal(EightMiB, json.GetProperty("bytes").GetInt64());
    }

    [Fact]
    public async Task JsEcho_OnHundredConcurrentStreams_Succeeds()
    {
        await using var host = await StartHostAsync();
        var result = (await JsLibp2p.RunAsync(["echo", host.ListenAddresses[0].ToString(), "--bytes", "65536", "--streams", "100"], Run).WaitAsync(Run)).EnsureSuccess();
        var json = result.JsonLines.Single();
        Assert.True(json.GetProperty("ok").GetBoolean());
        Assert.Equal(100, json.GetProperty("streams").GetInt32());
    }

    [Fact]
    public async Task JsPerf_UploadAndDownload_AgainstP2PNet()
    {
        await using var host = await StartHostAsync();
        const long size = 32L * 1024 * 1024;
        var result = (await JsLibp2p.RunAsync(["perf", host.ListenAddresses[0].ToString(), "--upload", Invariant(size), "--download", Invariant(size)], Run).WaitAsync(Run)).EnsureSuccess();
        var json = result.JsonLines.Single();
        Assert.Equal(size, json.GetProperty("upload_bytes").GetInt64());
        Assert.Equal(size, json.GetProperty("download_bytes").GetInt64());
    }

    [Fact]
    public async Task JsDial_WithWrongPeerId_IsRefused()
    {
        await using var host = await StartHostAsync();
        using var stranger = PrivateKey.GenerateEd25519();
        var wrong = host.ListenAddresses[0].WithPeerId(stranger.PublicKey.ToPeerId());
        var result = await JsLibp2p.RunAsync(["dial", wrong.ToString()], Run).WaitAsync(Run);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("error", result.Stderr, StringComparison.OrdinalIgnoreCase);
    }

    // ---- P2PNet dials js ----

    [Fact]
    public async Task P2PNetPing_ToJsNode_Succeeds_AndJsIdentifiesUs()
    {
        await using var js = await JsLibp2p.StartAsync([], Step).WaitAsync(Step);
        await using var host = await StartHostAsync();
        var identified = new TaskCompletionSource<PeerIdentificationCompleted>(TaskCreationOptions.RunContinuationsAsynchronously);
        host.Events.Subscribe<PeerIdentificationCompleted>(e => identified.TrySetResult(e));

        var connection = await host.DialAsync(Multiaddr.Parse(js.ListenAddress())).AsTask().WaitAsync(Step);
        Assert.Equal(js.PeerId, connection.RemotePeer.ToString());
        int pings = 0;
        await foreach (var rtt in PingProtocol.PingAsync(connection, 3).WithCancellation(new CancellationTokenSource(Step).Token))
        {
            Assert.True(rtt > TimeSpan.Zero);
            pings++;
        }
        Assert.Equal(3, pings);

        // js's view of us, from its identify.
        var theirs = await js.WaitForIdentifyAsync(host.PeerId.ToString(), Step).WaitAsync(Step);
        Assert.Equal("p2pnet-interop-test/1.0", theirs.GetProperty("agentVersion").GetString());
        Assert.Contains(PingProtocol.Id, theirs.GetProperty("protocols").EnumerateArray().Select(p => p.GetString()));
        Assert.Contains(host.ListenAddresses[0].WithoutPeerId().ToString(), theirs.GetProperty("listenAddrs").EnumerateArray().Select(p => p.GetString()));

        // Our view of js.
        var ours = await identified.Task.WaitAsync(Step);
        Assert.StartsWith("js-libp2p-interop/", ours.Record.AgentVersion, StringComparison.Ordinal);
        Assert.Contains(EchoProtocol.Id, ours.Record.Protocols);
        Assert.Contains(Multiaddr.Parse(js.ListenAddress()).WithoutPeerId(), ours.Record.Addresses);
    }

    [Fact]
    public async Task P2PNetEcho_ToJsNode_EightMebibytesAndHundredStreams()
    {
        await using var js = await JsLibp2p.StartAsync([], Step).WaitAsync(Step);
        await using var host = await StartHostAsync();
        var connection = await host.DialAsync(Multiaddr.Parse(js.ListenAddress())).AsTask().WaitAsync(Step);

        byte[] large = RandomNumberGenerator.GetBytes(EightMiB);
        Assert.Equal(SHA256.HashData(large), SHA256.HashData(await EchoClient.EchoAsync(connection, large).WaitAsync(Run)));

        var payloads = Enumerable.Range(0, 100).Select(_ => RandomNumberGenerator.GetBytes(16 * 1024)).ToArray();
        var echoed = await Task.WhenAll(payloads.Select(p => EchoClient.EchoAsync(connection, p))).WaitAsync(Run);
        for (int i = 0; i < payloads.Length; i++)
        {
            Assert.Equal(payloads[i], echoed[i]);
        }
    }

    [Fact]
    public async Task P2PNetPerf_ToJsNode_UploadsAndDownloads()
    {
        await using var js = await JsLibp2p.StartAsync([], Step).WaitAsync(Step);
        await using var host = await StartHostAsync();
        var connection = await host.DialAsync(Multiaddr.Parse(js.ListenAddress())).AsTask().WaitAsync(Step);
        var result = await PerfProtocol.RunAsync(connection, 32L * 1024 * 1024, 32L * 1024 * 1024).WaitAsync(Run);
        Assert.Equal(32L * 1024 * 1024, result.UploadBytes);
        Assert.Equal(32L * 1024 * 1024, result.DownloadBytes);
    }

    [Fact]
    public async Task P2PNetDial_ToJsNodeWithWrongPeerId_IsRefused()
    {
        await using var js = await JsLibp2p.StartAsync([], Step).WaitAsync(Step);
        await using var host = await StartHostAsync();
        using var stranger = PrivateKey.GenerateEd25519();
        var wrong = Multiaddr.Parse(js.ListenAddress()).WithPeerId(stranger.PublicKey.ToPeerId());
        var error = await Assert.ThrowsAnyAsync<IOException>(() => host.DialAsync(wrong).AsTask().WaitAsync(Step));
        Assert.Contains(stranger.PublicKey.ToPeerId().ToString(), error.Message, StringComparison.Ordinal);
        Assert.Empty(host.Connections);
    }
}
