using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Protocols.Echo;
using P2PNet.Protocols.Ping;
using P2PNet.Transports.WebSockets;
using P2PNet.Transports.WebSockets.Internal;

namespace P2PNet.Core.Tests.WebSockets;

public sealed class WebSocketTransportTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("/ip4/127.0.0.1/tcp/1/ws", true, true)]
    [InlineData("/ip6/::1/tcp/1/ws", true, true)]
    [InlineData("/ip4/127.0.0.1/tcp/1/wss", true, false)]
    [InlineData("/dns4/example.com/tcp/443/wss", true, false)]
    [InlineData("/dns/example.com/tcp/80/ws/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA", true, false)]
    [InlineData("/ip4/127.0.0.1/tcp/1", false, false)]
    [InlineData("/ip4/127.0.0.1/udp/1/ws", false, false)]
    public void Transport_Accepts_OnlyWebSocketAddresses(string address, bool dial, bool listen)
    {
        var transport = new WebSocketTransport();
        Assert.Equal(dial, transport.CanDial(Multiaddr.Parse(address)));
        Assert.Equal(listen, transport.CanListen(Multiaddr.Parse(address)));
    }

    [Fact]
    public void Upgrade_Rfc6455Example_ComputesTheAcceptKey() =>
        // RFC 6455 §1.3
        Assert.Equal("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", WebSocketUpgrade.ComputeAccept("dGhlIHNhbXBsZSBub25jZQ=="));

    [Fact]
    public void Upgrade_ValidRequest_YieldsTheKey()
    {
        var head = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"u8;
        Assert.Equal(head.Length, WebSocketUpgrade.FindEndOfHead(head));
        Assert.Equal("dGhlIHNhbXBsZSBub25jZQ==", WebSocketUpgrade.ParseRequest(head));
    }

    [Theory]
    [InlineData("POST / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nno colon here\r\n\r\n")]
    public void Upgrade_InvalidRequest_IsRejected(string head) =>
        Assert.Throws<WireFormatException>(() => WebSocketUpgrade.ParseRequest(Encoding.UTF8.GetBytes(head)));

    [Fact]
    public async Task Hosts_OverWebSockets_PingAndEcho()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var server = new P2PHost();
        await using var client = new P2PHost();
        server.SetStreamHandler(EchoProtocol.Id, EchoProtocol.HandleAsync);
        var addresses = await server.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0/ws"), cts.Token).AsTask().WaitAsync(Step);
        var address = Assert.Single(addresses);
        Assert.Contains("/ws/p2p/", address.ToString(), StringComparison.Ordinal);

        var connection = await client.DialAsync(address, cts.Token).AsTask().WaitAsync(Step);
        Assert.Equal(server.PeerId, connection.RemotePeer);
        Assert.True(connection.RemoteAddress.Contains(MultiaddrProtocol.Ws));
        int pings = 0;
        await foreach (var rtt in PingProtocol.PingAsync(connection, 3, cts.Token))
        {
            pings++;
        }
        Assert.Equal(3, pings);

        var stream = await connection.OpenStreamAsync(EchoProtocol.Id, cts.Token).AsTask().WaitAsync(Step);
        await using (stream)
        {
            byte[] payload = RandomNumberGenerator.GetBytes(1024 * 1024);
            var writing = Task.Run(async () =>
            {
                await stream.WriteAsync(payload, cts.Token);
                await stream.CompleteWritesAsync(cts.Token);
            }, cts.Token);
            using var received = new MemoryStream();
            await stream.CopyToAsync(received, cts.Token).WaitAsync(Step);
            await writing.WaitAsync(Step);
            Assert.Equal(SHA256.HashData(payload), SHA256.HashData(received.ToArray()));
        }
    }

    [Fact]
    public async Task Listener_NonWebSocketClient_GetsBadRequestAndOthersStillConnect()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var transport = new WebSocketTransport();
        await using var listener = await transport.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0/ws"), cts.Token).AsTask().WaitAsync(Step);
        Assert.True(listener.LocalAddress.WithoutPeerId().Decapsulate(MultiaddrProtocol.Ws).TryGetTcpEndPoint(out var endPoint));

        using var raw = new System.Net.Sockets.TcpClient();
        await raw.ConnectAsync(endPoint, cts.Token).AsTask().WaitAsync(Step);
        var rawStream = raw.GetStream();
        await rawStream.WriteAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray(), cts.Token);
        byte[] buffer = new byte[256];
        int read = await rawStream.ReadAsync(buffer, cts.Token).AsTask().WaitAsync(Step);
        Assert.StartsWith("HTTP/1.1 400", Encoding.ASCII.GetString(buffer, 0, read), StringComparison.Ordinal);

        var accepting = listener.AcceptAsync(cts.Token).AsTask();
        await using var dialed = await transport.DialAsync(listener.LocalAddress, cts.Token).AsTask().WaitAsync(Step);
        await using var accepted = await accepting.WaitAsync(Step);
        await dialed.Output.WriteAsync("hello"u8.ToArray(), cts.Token);
        var result = await accepted.Input.ReadAtLeastAsync(5, cts.Token).AsTask().WaitAsync(Step);
        Assert.Equal("hello", Encoding.ASCII.GetString(result.Buffer.Slice(0, 5).ToArray()));
        accepted.Input.AdvanceTo(result.Buffer.GetPosition(5));

        // Our half-close (a close frame) ends the other side's input.
        await dialed.Output.CompleteAsync();
        var end = await accepted.Input.ReadAsync(cts.Token).AsTask().WaitAsync(Step);
        Assert.True(end.IsCompleted);
    }

    [Fact]
    public async Task Dial_NothingListening_FailsWithIOException()
    {
        var transport = new WebSocketTransport(new WebSocketTransportOptions { ConnectTimeout = TimeSpan.FromSeconds(5) });
        await Assert.ThrowsAsync<IOException>(() => transport.DialAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/1/ws")).AsTask()).WaitAsync(Step);
    }

    internal static string Bytes(long n) => n.ToString(CultureInfo.InvariantCulture);
}
