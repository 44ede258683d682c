using System.Net;
using System.Net.WebSockets;
using P2PNet.Testing;

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
    public async Task Stop_WithABrowserThatNeverAnswers_AbortsItWhenTheCloseTimeoutRunsOut()
    {
        var time = new ManualTimeProvider();
        TimeSpan closeTimeout = TimeSpan.FromSeconds(5);
        await using TestBridge bridge = await TestBridge.StartAsync(o =>
        {
            o.TimeProvider = time;
            o.CloseTimeout = closeTimeout;
        });
        await using BridgeClient silent = await bridge.ConnectAsync();

        // The client never reads, so it never answers the close frame: the stop waits for the close timeout …
        Task stop = bridge.Server.StopAsync();
        await time.WaitForTimerAsync(closeTimeout, BridgeClient.Timeout);
        Assert.False(stop.IsCompleted, "Stop returned before the close timeout ran out.");

        // … and once it runs out, aborts the client and returns.
        time.Advance(closeTimeout);
        DateTime deadline = DateTime.UtcNow + BridgeClient.Timeout;
        while (!stop.IsCompleted)
        {
            Assert.True(DateTime.UtcNow < deadline, "Stop did not return after the close timeout ran out.");
            await Task.WhenAny(stop, Task.Delay(20)).WaitAsync(BridgeClient.Timeout);

            // The aborted session's handler gets a further second to return; let that pass too if it is waited on.
            time.Advance(TimeSpan.FromMilliseconds(100));
        }

        await stop.WaitAsync(BridgeClient.Timeout);
        Assert.Equal(1, bridge.Metrics.Total("p2pnet.bridge.clients.closed", "reason=shutdown"));
    }

    [Fact]
    public async Task Stop_WithNoClients_DoesNotWaitForTheCloseTimeout()
    {
        // A close timeout far beyond the test's deadline: a stop that waited for it would time out below.
        await using TestBridge bridge = await TestBridge.StartAsync(o => o.CloseTimeout = TimeSpan.FromMinutes(10));

        await bridge.Server.StopAsync().WaitAsync(BridgeClient.Timeout);

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
