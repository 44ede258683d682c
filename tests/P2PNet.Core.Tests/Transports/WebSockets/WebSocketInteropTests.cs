using System.Security.Cryptography;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Protocols.Echo;
using P2PNet.Protocols.Ping;
using P2PNet.Testing.Interop;
using P2PNet.Testing.Processes;

namespace P2PNet.Core.Tests.WebSockets;

/// <summary>P2PNet ↔ js-libp2p (<c>@libp2p/websockets</c>) over <c>/ws</c>, both directions.</summary>
public sealed class WebSocketInteropTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Run = TimeSpan.FromSeconds(90);
    private const long EightMiB = 8 * 1024 * 1024;

    [Fact]
    public async Task Js_DialsP2PNetOverWs_PingsAndEchoes8MiB()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await using var host = new P2PHost();
        host.SetStreamHandler(EchoProtocol.Id, EchoProtocol.HandleAsync);
        var address = Assert.Single(await host.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0/ws"), cts.Token).AsTask().WaitAsync(Step));

        var ping = (await JsLibp2p.RunAsync(["ping", address.ToString(), "--count", "3"], Run, cts.Token).WaitAsync(Run)).EnsureSuccess();
        Assert.Equal(3, ping.JsonLines.Count);

        var echo = (await JsLibp2p.RunAsync(["echo", address.ToString(), "--bytes", WebSocketTransportTests.Bytes(EightMiB)], Run, cts.Token).WaitAsync(Run)).EnsureSuccess();
        var result = echo.JsonLines.Single();
        Assert.True(result.GetProperty("ok").GetBoolean());
        Assert.Equal(EightMiB, result.GetProperty("bytes").GetInt64());
        Assert.Equal(64, result.GetProperty("sha256").GetString()!.Length);
    }

    [Fact]
    public async Task P2PNet_DialsJsOverWs_PingsAndEchoes8MiB()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await using var js = await JsLibp2p.StartAsync(["--listen", "/ip4/127.0.0.1/tcp/0/ws"], Step, cts.Token).WaitAsync(Step);
        var target = Multiaddr.Parse(js.ListenAddress("/ws/"));
        await using var host = new P2PHost();
        var connection = await host.DialAsync(target, cts.Token).AsTask().WaitAsync(Step);
        Assert.Equal(js.PeerId, connection.RemotePeer.ToString());

        int pings = 0;
        await foreach (var rtt in PingProtocol.PingAsync(connection, 3, cts.Token))
        {
            pings++;
        }
        Assert.Equal(3, pings);

        var stream = await connection.OpenStreamAsync(EchoProtocol.Id, cts.Token).AsTask().WaitAsync(Step);
        await using (stream)
        {
            using var sent = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var writing = Task.Run(async () =>
            {
                byte[] block = new byte[64 * 1024];
                for (long left = EightMiB; left > 0; left -= block.Length)
                {
                    RandomNumberGenerator.Fill(block);
                    sent.AppendData(block);
                    await stream.WriteAsync(block, cts.Token);
                }
                await stream.CompleteWritesAsync(cts.Token);
            }, cts.Token);
            using var received = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            byte[] buffer = new byte[64 * 1024];
            long total = 0;
            int read;
            while ((read = await stream.ReadAsync(buffer, cts.Token).AsTask().WaitAsync(Step)) > 0)
            {
                received.AppendData(buffer, 0, read);
                total += read;
            }
            await writing.WaitAsync(Step);
            Assert.Equal(EightMiB, total);
            Assert.Equal(sent.GetHashAndReset(), received.GetHashAndReset());
        }
        await js.WaitForLineAsync("CONNECT ", host.PeerId.ToString(), Step, cts.Token).WaitAsync(Step);
    }

    [Fact]
    public async Task Cli_ListeningOnWs_PrintsTheWsAddressAndAnswersJs()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await using var node = ChildProcess.Start("dotnet", [P2PNetCli.Assembly, "node", "--listen", "/ip4/127.0.0.1/tcp/0/ws"]);
        string listen = await node.WaitForLineAsync(l => l.StartsWith("LISTEN ", StringComparison.Ordinal), Step);
        string address = listen["LISTEN ".Length..];
        Assert.Matches(@"^/ip4/127\.0\.0\.1/tcp/\d+/ws/p2p/12D3KooW\w+$", address);

        var ping = (await JsLibp2p.RunAsync(["ping", address, "--count", "2"], Run, cts.Token).WaitAsync(Run)).EnsureSuccess();
        Assert.Equal(2, ping.JsonLines.Count);
        var echo = (await JsLibp2p.RunAsync(["echo", address, "--bytes", "100000"], Run, cts.Token).WaitAsync(Run)).EnsureSuccess();
        Assert.True(echo.JsonLines.Single().GetProperty("ok").GetBoolean());
    }
}
