using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;

namespace P2PNet.Proxy.Tests.UdpBridge;

/// <summary>Rate limits, datagram size, client count and idle timeout.</summary>
public sealed class UdpBridgeLimitsTests
{
    [Fact]
    public async Task DatagramRate_PassesOneBurst_AndDropsTheRest()
    {
        await using TestBridge bridge = await TestBridge.StartAsync(o => o.MaxDatagramsPerSecond = 5);
        await using var echo = new UdpEchoServer(IPAddress.Loopback);
        await using BridgeClient client = await bridge.ConnectAsync();

        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < 20; i++)
        {
            await client.SendAsync(echo.EndPoint, [(byte)i]);
        }

        await bridge.Metrics.WaitForAsync(20, "p2pnet.bridge.datagrams.relayed|p2pnet.bridge.datagrams.dropped", "direction=to_udp");
        long passed = bridge.Metrics.Total("p2pnet.bridge.datagrams.relayed", "direction=to_udp");

        // A burst of 5, plus whatever refilled at 5 tokens a second while the 20 messages went by.
        Assert.InRange(passed, 5, 5 + (long)Math.Ceiling(clock.Elapsed.TotalSeconds * 5));
        Assert.Equal(20 - passed, bridge.Metrics.Total("p2pnet.bridge.datagrams.dropped", "reason=rate_limited", "direction=to_udp"));
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(new[] { (byte)i }, (await client.ReceiveAsync()).Payload);
        }

        Assert.InRange(echo.Received, 5, passed);
    }

    [Fact]
    public async Task ByteRate_DropsWhatWouldExceedIt()
    {
        await using TestBridge bridge = await TestBridge.StartAsync(o =>
        {
            o.MaxDatagramSize = 500;
            o.MaxBytesPerSecond = 1000;
        });
        await using var echo = new UdpEchoServer(IPAddress.Loopback);
        await using BridgeClient client = await bridge.ConnectAsync();

        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < 5; i++)
        {
            await client.SendAsync(echo.EndPoint, new byte[400]);
        }

        await bridge.Metrics.WaitForAsync(5, "p2pnet.bridge.datagrams.relayed|p2pnet.bridge.datagrams.dropped", "direction=to_udp");
        long passed = bridge.Metrics.Total("p2pnet.bridge.datagrams.relayed", "direction=to_udp");

        // 1,000 bytes of burst hold two 400-byte datagrams; more only if 400 bytes refilled meanwhile.
        Assert.InRange(passed, 2, 2 + (long)(clock.Elapsed.TotalSeconds * 1000 / 400));
        Assert.Equal(5 - passed, bridge.Metrics.Total("p2pnet.bridge.datagrams.dropped", "reason=rate_limited"));
    }

    [Fact]
    public async Task InboundRate_IsLimitedToo()
    {
        await using TestBridge bridge = await TestBridge.StartAsync(o => o.MaxDatagramsPerSecond = 3);
        await using BridgeClient client = await bridge.ConnectAsync();
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        peer.Bind(new IPEndPoint(IPAddress.Loopback, 0));

        for (int i = 0; i < 10; i++)
        {
            await peer.SendToAsync(new[] { (byte)i }, client.Announced).WaitAsync(BridgeClient.Timeout);
        }

        await bridge.Metrics.WaitForAsync(5, "p2pnet.bridge.datagrams.dropped", "reason=rate_limited", "direction=to_websocket");
        Assert.Equal(new byte[] { 0 }, (await client.ReceiveAsync()).Payload);
        Assert.Equal(new byte[] { 1 }, (await client.ReceiveAsync()).Payload);
        Assert.Equal(new byte[] { 2 }, (await client.ReceiveAsync()).Payload);
    }

    [Fact]
    public async Task InboundOversizeDatagram_IsDropped_AndTheSessionGoesOn()
    {
        await using TestBridge bridge = await TestBridge.StartAsync(o => o.MaxDatagramSize = 100);
        await using BridgeClient client = await bridge.ConnectAsync();
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        peer.Bind(new IPEndPoint(IPAddress.Loopback, 0));

        await peer.SendToAsync(new byte[101], client.Announced).WaitAsync(BridgeClient.Timeout);
        await peer.SendToAsync(new byte[100], client.Announced).WaitAsync(BridgeClient.Timeout);

        Assert.Equal(100, (await client.ReceiveAsync()).Payload.Length);
        Assert.Equal(1, bridge.Metrics.Total("p2pnet.bridge.datagrams.dropped", "reason=oversize", "direction=to_websocket"));
    }

    [Fact]
    public async Task MaxClients_TurnsTheNextClientAwayWith1013_UntilOneLeaves()
    {
        await using TestBridge bridge = await TestBridge.StartAsync(o => o.MaxClients = 2);
        await using BridgeClient first = await bridge.ConnectAsync();
        await using BridgeClient second = await bridge.ConnectAsync();

        using (var third = new ClientWebSocket())
        {
            await third.ConnectAsync(bridge.Url, CancellationToken.None).WaitAsync(BridgeClient.Timeout);
            ValueWebSocketReceiveResult result = await third.ReceiveAsync(new byte[256].AsMemory(), CancellationToken.None)
                .AsTask().WaitAsync(BridgeClient.Timeout);

            Assert.Equal(WebSocketMessageType.Close, result.MessageType);
            Assert.Equal(1013, (int)third.CloseStatus!.Value);
            Assert.Contains("bridge is full", third.CloseStatusDescription, StringComparison.Ordinal);
        }

        Assert.Equal(1, bridge.Metrics.Total("p2pnet.bridge.connections.rejected", "reason=max_clients"));

        await first.DisposeAsync();
        await bridge.Metrics.WaitForAsync(1, "p2pnet.bridge.clients.closed");
        await using BridgeClient replacement = await bridge.ConnectAsync();
        Assert.NotEqual(0, replacement.Announced.Port);
    }

    [Fact]
    public async Task IdleClient_IsClosedWith1000IdleTimeout_WhileAnActiveOneStays()
    {
        await using TestBridge bridge = await TestBridge.StartAsync(o => o.IdleTimeout = TimeSpan.FromMilliseconds(1500));
        await using var echo = new UdpEchoServer(IPAddress.Loopback);
        await using BridgeClient idle = await bridge.ConnectAsync();
        await using BridgeClient active = await bridge.ConnectAsync();

        Task<(WebSocketCloseStatus? Status, string? Description)> idleClose = idle.ReceiveCloseAsync();
        while (!idleClose.IsCompleted)
        {
            await active.SendAsync(echo.EndPoint, "still here"u8);
            await active.ReceiveAsync();
            await Task.WhenAny(idleClose, Task.Delay(100)).WaitAsync(BridgeClient.Timeout);
        }

        (WebSocketCloseStatus? status, string? description) = await idleClose;
        Assert.Equal(WebSocketCloseStatus.NormalClosure, status);
        Assert.Equal("idle timeout", description);
        Assert.Equal(WebSocketState.Open, active.WebSocket.State);
        await active.SendAsync(echo.EndPoint, "and still"u8);
        Assert.Equal("and still"u8.ToArray(), (await active.ReceiveAsync()).Payload);
    }
}
