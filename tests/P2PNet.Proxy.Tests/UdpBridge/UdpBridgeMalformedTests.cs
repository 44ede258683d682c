using System.Net;
using System.Net.WebSockets;

namespace P2PNet.Proxy.Tests.UdpBridge;

/// <summary>A malformed message closes that client's websocket with a clear close code and reason, and nothing else.</summary>
public sealed class UdpBridgeMalformedTests
{
    public static TheoryData<byte[], string> ShortOrBadHeaders => new()
    {
        { [], "Empty message" },
        { [4, 127, 0, 0, 1, 0], "Short header" },
        { [6, 0, 0, 0], "Short header" },
        { [5, 127, 0, 0, 1, 0, 9], "Bad address family byte 5" },
        { [0], "Bad address family byte 0" },
    };

    [Theory]
    [MemberData(nameof(ShortOrBadHeaders))]
    public async Task ShortHeaderOrBadFamily_ClosesWith1007AndSaysWhy(byte[] message, string reason)
    {
        await using TestBridge bridge = await TestBridge.StartAsync();
        await using BridgeClient client = await bridge.ConnectAsync();

        await client.SendRawAsync(message);
        (WebSocketCloseStatus? status, string? description) = await client.ReceiveCloseAsync();

        Assert.Equal(WebSocketCloseStatus.InvalidPayloadData, status);
        Assert.StartsWith(reason, description, StringComparison.Ordinal);
        await bridge.Metrics.WaitForAsync(1, "p2pnet.bridge.clients.closed", "reason=malformed");
    }

    [Fact]
    public async Task OversizePayload_ClosesWith1009()
    {
        await using TestBridge bridge = await TestBridge.StartAsync(o => o.MaxDatagramSize = 100);
        await using var echo = new UdpEchoServer(IPAddress.Loopback);
        await using BridgeClient client = await bridge.ConnectAsync();

        await client.SendAsync(echo.EndPoint, new byte[101]);
        (WebSocketCloseStatus? status, string? description) = await client.ReceiveCloseAsync();

        Assert.Equal(WebSocketCloseStatus.MessageTooBig, status);
        Assert.Contains("101 payload bytes, the maximum is 100", description, StringComparison.Ordinal);
        Assert.Equal(0, echo.Received);
    }

    [Fact]
    public async Task MessageFarBeyondTheLimit_InFragments_ClosesWith1009()
    {
        await using TestBridge bridge = await TestBridge.StartAsync(o => o.MaxDatagramSize = 100);
        await using BridgeClient client = await bridge.ConnectAsync();

        byte[] chunk = new byte[64];
        chunk[0] = 4;
        for (int i = 0; i < 10; i++)
        {
            await client.WebSocket.SendAsync(chunk, WebSocketMessageType.Binary, endOfMessage: i == 9, CancellationToken.None)
                .WaitAsync(BridgeClient.Timeout);
        }

        (WebSocketCloseStatus? status, string? description) = await client.ReceiveCloseAsync();
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, status);
        Assert.StartsWith("message too big", description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TextMessage_ClosesWith1003()
    {
        await using TestBridge bridge = await TestBridge.StartAsync();
        await using BridgeClient client = await bridge.ConnectAsync();

        await client.SendRawAsync("{\"hello\":1}"u8.ToArray(), WebSocketMessageType.Text);
        (WebSocketCloseStatus? status, string? description) = await client.ReceiveCloseAsync();

        Assert.Equal(WebSocketCloseStatus.InvalidMessageType, status);
        Assert.Contains("only binary", description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MalformedClient_DoesNotAffectAnother()
    {
        await using TestBridge bridge = await TestBridge.StartAsync();
        await using var echo = new UdpEchoServer(IPAddress.Loopback);
        await using BridgeClient bad = await bridge.ConnectAsync();
        await using BridgeClient good = await bridge.ConnectAsync();

        await bad.SendRawAsync([9, 9, 9]);
        Assert.Equal(WebSocketCloseStatus.InvalidPayloadData, (await bad.ReceiveCloseAsync()).Status);

        await good.SendAsync(echo.EndPoint, "unaffected"u8);
        Assert.Equal("unaffected"u8.ToArray(), (await good.ReceiveAsync()).Payload);
    }

    [Fact]
    public async Task AfterMalformed_NothingMoreIsRelayed()
    {
        await using TestBridge bridge = await TestBridge.StartAsync();
        await using var echo = new UdpEchoServer(IPAddress.Loopback);
        await using BridgeClient client = await bridge.ConnectAsync();

        await client.SendRawAsync([7]);
        await client.SendAsync(echo.EndPoint, "too late"u8);
        Assert.Equal(WebSocketCloseStatus.InvalidPayloadData, (await client.ReceiveCloseAsync()).Status);

        await bridge.Metrics.WaitForAsync(1, "p2pnet.bridge.clients.closed");
        Assert.Equal(0, echo.Received);
    }
}
