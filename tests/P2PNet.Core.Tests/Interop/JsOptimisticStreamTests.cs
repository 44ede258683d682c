using System.Security.Cryptography;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Protocols.Echo;
using P2PNet.Testing;
using P2PNet.Testing.Interop;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.Interop;

/// <summary>
/// Optimistic multistream-select against stock js-libp2p in both directions: our single-protocol streams (data before
/// the echo) into a js node, and js-libp2p's own lazy client (<c>negotiateFully: false</c>) into our host.
/// </summary>
public sealed class JsOptimisticStreamTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Run = TimeSpan.FromSeconds(90);

    private async Task<P2PHost> StartHostAsync()
    {
        var options = new P2PHostOptions();
        options.ListenAddresses.Add(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
        var host = new P2PHost(options, XunitLoggerProvider.CreateFactory(output));
        host.SetStreamHandler(EchoProtocol.Id, EchoProtocol.HandleAsync);
        await host.StartAsync().AsTask().WaitAsync(Step);
        return host;
    }

    [Fact]
    public async Task OptimisticStream_ToJsNode_DataBeforeTheEcho_IsEchoedOnEveryStream()
    {
        await using var js = await JsLibp2p.StartAsync([], Step).WaitAsync(Step);
        await using var host = await StartHostAsync();
        var connection = await host.DialAsync(Multiaddr.Parse(js.ListenAddress())).AsTask().WaitAsync(Step);

        var payloads = Enumerable.Range(0, 20).Select(_ => RandomNumberGenerator.GetBytes(4096)).ToArray();
        var echoed = await Task.WhenAll(payloads.Select(async p =>
        {
            await using var stream = await connection.OpenStreamAsync(EchoProtocol.Id).AsTask().WaitAsync(Step);
            // Written, and half-closed, before js-libp2p's echo can have arrived.
            await stream.Output.WriteAsync(p).AsTask().WaitAsync(Step);
            await stream.Output.CompleteAsync();
            using var all = new MemoryStream();
            await stream.CopyToAsync(all).WaitAsync(Step);
            return all.ToArray();
        })).WaitAsync(Run);
        for (int i = 0; i < payloads.Length; i++)
        {
            Assert.Equal(payloads[i], echoed[i]);
        }
    }

    [Fact]
    public async Task OptimisticStream_ToJsNode_RefusedProtocol_FirstReadThrowsProtocolNotSupported_AndConnectionKeepsWorking()
    {
        await using var js = await JsLibp2p.StartAsync([], Step).WaitAsync(Step);
        await using var host = await StartHostAsync();
        var connection = await host.DialAsync(Multiaddr.Parse(js.ListenAddress())).AsTask().WaitAsync(Step);

        await using (var stream = await connection.OpenStreamAsync("/nobody/serves/this/1.0.0").AsTask().WaitAsync(Step))
        {
            await Assert.ThrowsAsync<ProtocolNotSupportedException>(() => stream.ReadAsync(new byte[1]).AsTask().WaitAsync(Step));
        }
        Assert.Equal(new byte[] { 4, 5, 6 }, await EchoClient.EchoAsync(connection, [4, 5, 6]).WaitAsync(Step));
    }

    [Fact]
    public async Task JsLazyClient_ToP2PNetHost_EchoesOnConcurrentStreams()
    {
        await using var host = await StartHostAsync();
        var result = (await JsLibp2p.RunAsync(["echo", host.ListenAddresses[0].ToString(), "--bytes", "65536", "--streams", "20", "--lazy"], Run).WaitAsync(Run)).EnsureSuccess();
        var json = result.JsonLines.Single();
        Assert.True(json.GetProperty("ok").GetBoolean());
        Assert.Equal(20, json.GetProperty("streams").GetInt32());
    }
}
