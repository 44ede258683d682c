using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;

namespace P2PNet.Proxy.Tests.UdpBridge;

/// <summary>Graceful shutdown closes every websocket with 1001, and does not wait forever for a silent browser.</summary>
public sealed class UdpBridgeShutdownTests
{
    [Fact]
    public async Task Stop_ClosesEveryClientWith1001()
    {
        await using TestBridge bridge = await TestBridge.StartAsync();
        var clients = new List<BridgeClient>();
        for (int i = 0; i < 5; i++)
        {
            clients.Add(await bridge.ConnectAsync());
        }

        Task<(WebSocketCloseStatus? Status, string? Description)>[] closes = [.. clients.Select(c => c.ReceiveCloseAsync())];
        await bridge.Server.StopAsync().WaitAsync(BridgeClient.Timeout);

        foreach (Task<(WebSocketCloseStatus? Status, string? Description)> close in closes)
        {
            (WebSocketCloseStatus? status, string? description) = await close.WaitAsync(BridgeClient.Timeout);
            Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, status);
            Assert.Equal("bridge shutting down", description);
        }

        Assert.Equal(5, bridge.Metrics.Total("p2pnet.bridge.clients.closed", "reason=shutdown"));
        foreach (BridgeClient client in clients)
        {
            await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task Stop_WithABrowserThatNeverAnswers_AbortsItAfterTheCloseTimeout()
    {
        await using TestBridge bridge = await TestBridge.StartAsync(o => o.CloseTimeout = TimeSpan.FromMilliseconds(500));
        await using BridgeClient silent = await bridge.ConnectAsync();

        // The client never reads, so it never answers the close frame.
        var stopwatch = Stopwatch.StartNew();
        await bridge.Server.StopAsync().WaitAsync(BridgeClient.Timeout);

        Assert.InRange(stopwatch.Elapsed, TimeSpan.FromMilliseconds(400), TimeSpan.FromSeconds(5));
        Assert.Equal(1, bridge.Metrics.Total("p2pnet.bridge.clients.closed", "reason=shutdown"));
    }

    [Fact]
    public async Task Stop_WithNoClients_IsQuick()
    {
        await using TestBridge bridge = await TestBridge.StartAsync();

        var stopwatch = Stopwatch.StartNew();
        await bridge.Server.StopAsync().WaitAsync(BridgeClient.Timeout);

        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(2), $"Stopping took {stopwatch.Elapsed}.");
        await Assert.ThrowsAnyAsync<Exception>(() => BridgeClient.ConnectAsync(bridge.Url));
    }

    [Fact]
    public async Task Stop_AfterTraffic_ReleasesTheUdpSockets()
    {
        await using TestBridge bridge = await TestBridge.StartAsync();
        await using var echo = new UdpEchoServer(IPAddress.Loopback);
        BridgeClient client = await bridge.ConnectAsync();
        await client.SendAsync(echo.EndPoint, "x"u8);
        await client.ReceiveAsync();
        Task<(WebSocketCloseStatus? Status, string? Description)> close = client.ReceiveCloseAsync();

        await bridge.Server.StopAsync().WaitAsync(BridgeClient.Timeout);
        await close;

        // The client's UDP port is free again: binding it succeeds.
        using var rebind = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetworkV6,
            System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp) { DualMode = true };
        rebind.Bind(new IPEndPoint(IPAddress.IPv6Any, client.Announced.Port));
        await client.DisposeAsync();
    }
}
