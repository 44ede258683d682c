using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using P2PNet.Proxy.UdpBridge;
using P2PNet.Proxy.UdpBridge.Internal;
using P2PNet.Testing;

namespace P2PNet.Proxy.Tests.UdpBridge;

/// <summary>
/// Limits per client address and on connections before their upgrade: clients per address, the rate every client of
/// an address shares, handshakes pending in total and per address, the handshake deadline. Real sockets on loopback,
/// where every client comes from 127.0.0.1.
/// </summary>
public sealed class UdpBridgeAddressLimitsTests
{
    [Fact]
    public async Task ClientsPerAddress_OverTheLimit_AreTurnedAwayWith1013_UntilOneLeaves()
    {
        await using TestBridge bridge = await TestBridge.StartAsync(o => o.MaxClientsPerAddress = 2);
        await using BridgeClient first = await bridge.ConnectAsync();
        await using BridgeClient second = await bridge.ConnectAsync();

        using (var third = new ClientWebSocket())
        {
            await third.ConnectAsync(bridge.Url, CancellationToken.None).WaitAsync(BridgeClient.Timeout);
            ValueWebSocketReceiveResult result = await third.ReceiveAsync(new byte[256].AsMemory(), CancellationToken.None)
                .AsTask().WaitAsync(BridgeClient.Timeout);

            Assert.Equal(WebSocketMessageType.Close, result.MessageType);
            Assert.Equal(1013, (int)third.CloseStatus!.Value);
            Assert.Contains("too many clients from your address", third.CloseStatusDescription, StringComparison.Ordinal);
        }

        Assert.Equal(1, bridge.Metrics.Total("p2pnet.bridge.connections.rejected", "reason=max_clients_per_address"));

        await first.DisposeAsync();
        await bridge.Metrics.WaitForAsync(1, "p2pnet.bridge.clients.closed");
        await using BridgeClient replacement = await bridge.ConnectAsync();
        Assert.NotEqual(0, replacement.Announced.Port);
    }

    [Fact]
    public async Task AddressRate_IsSharedByEveryClientOfTheAddress()
    {
        // A stopped clock: the buckets hold their first second's burst and never refill, so the counts are exact.
        var time = new ManualTimeProvider();
        await using TestBridge bridge = await TestBridge.StartAsync(o =>
        {
            o.TimeProvider = time;
            o.MaxDatagramsPerSecond = 100;
            o.MaxDatagramsPerSecondPerAddress = 10;
        });
        await using var echo = new UdpEchoServer(IPAddress.Loopback);
        await using BridgeClient first = await bridge.ConnectAsync();
        await using BridgeClient second = await bridge.ConnectAsync();

        for (int i = 0; i < 10; i++)
        {
            await first.SendAsync(echo.EndPoint, [1]);
            await second.SendAsync(echo.EndPoint, [2]);
        }

        await bridge.Metrics.WaitForAsync(20, "p2pnet.bridge.datagrams.relayed|p2pnet.bridge.datagrams.dropped", "direction=to_udp");
        Assert.Equal(10, bridge.Metrics.Total("p2pnet.bridge.datagrams.relayed", "direction=to_udp"));
        Assert.Equal(10, bridge.Metrics.Total("p2pnet.bridge.datagrams.dropped", "reason=address_rate_limited", "direction=to_udp"));
        Assert.Equal(0, bridge.Metrics.Total("p2pnet.bridge.datagrams.dropped", "reason=rate_limited"));
    }

    [Fact]
    public async Task PendingHandshakesPerAddress_OverTheLimit_Get503_UntilOneEnds()
    {
        await using TestBridge bridge = await TestBridge.StartAsync(o => o.MaxPendingHandshakesPerAddress = 2);
        using Socket idle1 = await ConnectRawAsync(bridge);
        using Socket idle2 = await ConnectRawAsync(bridge);
        await bridge.Metrics.WaitForAsync(2, "p2pnet.bridge.handshakes.active");

        using (Socket third = await ConnectRawAsync(bridge))
        {
            string response = await WebSocketHandshakeTests.ReadToEndAsync(third);
            Assert.StartsWith("HTTP/1.1 503 ", response, StringComparison.Ordinal);
        }

        Assert.Equal(1, bridge.Metrics.Total("p2pnet.bridge.connections.rejected", "reason=handshakes_per_address"));

        // A half-open upgrade that goes away frees its place.
        idle1.Close();
        await WaitForPendingHandshakesAsync(bridge, 1);
        await using BridgeClient client = await bridge.ConnectAsync();
        Assert.NotEqual(0, client.Announced.Port);
    }

    [Fact]
    public async Task PendingHandshakesInTotal_OverTheLimit_Get503()
    {
        await using TestBridge bridge = await TestBridge.StartAsync(o => o.MaxPendingHandshakes = 1);
        using Socket idle = await ConnectRawAsync(bridge);
        await bridge.Metrics.WaitForAsync(1, "p2pnet.bridge.handshakes.active");

        using Socket second = await ConnectRawAsync(bridge);
        string response = await WebSocketHandshakeTests.ReadToEndAsync(second);

        Assert.StartsWith("HTTP/1.1 503 ", response, StringComparison.Ordinal);
        Assert.Equal(1, bridge.Metrics.Total("p2pnet.bridge.connections.rejected", "reason=handshakes"));
    }

    [Fact]
    public async Task Handshake_NotCompleteByTheDeadline_Gets408AndIsClosed()
    {
        var time = new ManualTimeProvider();
        await using TestBridge bridge = await TestBridge.StartAsync(o =>
        {
            o.TimeProvider = time;
            o.HandshakeTimeout = TimeSpan.FromSeconds(10);
        });
        using Socket slow = await ConnectRawAsync(bridge);

        // Half a request head, then nothing (slow loris).
        await slow.SendAsync(Encoding.ASCII.GetBytes("GET /udp HTTP/1.1\r\nHost: bridge\r\nUpgrade: websocket\r\n")).WaitAsync(BridgeClient.Timeout);
        await time.WaitForTimerAsync(TimeSpan.FromSeconds(10), BridgeClient.Timeout);
        Assert.Equal(0, bridge.Metrics.Total("p2pnet.bridge.connections.rejected"));
        time.Advance(TimeSpan.FromSeconds(10));

        string response = await WebSocketHandshakeTests.ReadToEndAsync(slow);
        Assert.StartsWith("HTTP/1.1 408 ", response, StringComparison.Ordinal);
        Assert.Equal(1, bridge.Metrics.Total("p2pnet.bridge.connections.rejected", "reason=handshake_timeout"));
        await WaitForPendingHandshakesAsync(bridge, 0);
    }

    [Fact]
    public async Task InApp_ClientsPerAddress_OverTheLimit_AreTurnedAwayWith1013()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddUdpBridge(o => o.MaxClientsPerAddress = 1);
        await using WebApplication app = builder.Build();
        app.MapUdpBridge("/udp");
        await app.StartAsync().WaitAsync(BridgeClient.Timeout);
        var url = new Uri($"ws://127.0.0.1:{new Uri(app.Urls.First()).Port}/udp");

        await using (BridgeClient first = await BridgeClient.ConnectAsync(url))
        {
            using var second = new ClientWebSocket();
            await second.ConnectAsync(url, CancellationToken.None).WaitAsync(BridgeClient.Timeout);
            ValueWebSocketReceiveResult result = await second.ReceiveAsync(new byte[256].AsMemory(), CancellationToken.None)
                .AsTask().WaitAsync(BridgeClient.Timeout);

            Assert.Equal(WebSocketMessageType.Close, result.MessageType);
            Assert.Equal(1013, (int)second.CloseStatus!.Value);
            Assert.Contains("too many clients from your address", second.CloseStatusDescription, StringComparison.Ordinal);
        }

        await app.StopAsync().WaitAsync(BridgeClient.Timeout);
    }

    [Theory]
    [InlineData("127.0.0.1", "::ffff:127.0.0.1", true)]
    [InlineData("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", true)]
    [InlineData("2001:db8:1:2::1", "2001:db8:1:3::1", false)]
    [InlineData("192.0.2.1", "192.0.2.2", false)]
    [InlineData("::ffff:192.0.2.1", "2001:db8::c000:201", false)]
    public void AddressGroup_IsTheIPv4AddressOrTheIPv6Slash64(string a, string b, bool same) =>
        Assert.Equal(same, ClientAddress.KeyOf(IPAddress.Parse(a)) == ClientAddress.KeyOf(IPAddress.Parse(b)));

    private static async Task<Socket> ConnectRawAsync(TestBridge bridge)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, bridge.Url.Port)).WaitAsync(BridgeClient.Timeout);
        return socket;
    }

    /// <summary>Waits (polling, with a deadline) until the pending-handshake gauge comes down to <paramref name="count"/>.</summary>
    private static Task WaitForPendingHandshakesAsync(TestBridge bridge, long count) =>
        Conditions.WaitUntilAsync(() => bridge.Metrics.Total("p2pnet.bridge.handshakes.active") == count, BridgeClient.Timeout,
            () => $"Pending handshakes: {bridge.Metrics.Total("p2pnet.bridge.handshakes.active")}, expected {count}.");
}
