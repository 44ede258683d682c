using System.Net;
using System.Net.WebSockets;

namespace P2PNet.Proxy.Tests.UdpBridge;

/// <summary>Who may connect: bearer token, allowed origins, WebSocket requests only.</summary>
public sealed class UdpBridgeAdmissionTests
{
    private const string Token = "s3cret-token";

    [Fact]
    public async Task Token_Missing_IsRefusedWith401()
    {
        await using TestBridge bridge = await TestBridge.StartAsync(o => o.BearerToken = Token);

        HttpStatusCode status = await FailedHandshakeStatusAsync(bridge.Url, _ => { });

        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal(1, bridge.Metrics.Total("p2pnet.bridge.connections.rejected", "reason=unauthorized"));
    }

    [Fact]
    public async Task Token_Wrong_IsRefusedWith401()
    {
        await using TestBridge bridge = await TestBridge.StartAsync(o => o.BearerToken = Token);

        HttpStatusCode status = await FailedHandshakeStatusAsync(bridge.Url, o => o.SetRequestHeader("Authorization", "Bearer s3cret-tokeN"));

        Assert.Equal(HttpStatusCode.Unauthorized, status);
    }

    [Fact]
    public async Task Token_InAuthorizationHeader_IsAccepted()
    {
        await using TestBridge bridge = await TestBridge.StartAsync(o => o.BearerToken = Token);

        await using BridgeClient client = await BridgeClient.ConnectAsync(bridge.Url, o => o.SetRequestHeader("Authorization", "Bearer " + Token));

        Assert.NotEqual(0, client.Announced.Port);
    }

    [Fact]
    public async Task Token_InAccessTokenQuery_IsAccepted()
    {
        await using TestBridge bridge = await TestBridge.StartAsync(o => o.BearerToken = Token);

        await using BridgeClient client = await BridgeClient.ConnectAsync(new Uri(bridge.Url + "?access_token=" + Token));

        Assert.NotEqual(0, client.Announced.Port);
    }

    [Fact]
    public async Task Origin_NotListed_IsRefusedWith403()
    {
        await using TestBridge bridge = await TestBridge.StartAsync(o => o.AllowedOrigins.Add("https://app.example"));

        HttpStatusCode status = await FailedHandshakeStatusAsync(bridge.Url, o => o.SetRequestHeader("Origin", "https://evil.example"));

        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal(1, bridge.Metrics.Total("p2pnet.bridge.connections.rejected", "reason=origin"));
    }

    [Fact]
    public async Task Origin_Missing_WhenOriginsAreListed_IsRefusedWith403()
    {
        await using TestBridge bridge = await TestBridge.StartAsync(o => o.AllowedOrigins.Add("https://app.example"));

        HttpStatusCode status = await FailedHandshakeStatusAsync(bridge.Url, _ => { });

        Assert.Equal(HttpStatusCode.Forbidden, status);
    }

    [Fact]
    public async Task Origin_Listed_IsAccepted()
    {
        await using TestBridge bridge = await TestBridge.StartAsync(o => o.AllowedOrigins.Add("https://app.example"));

        await using BridgeClient client = await BridgeClient.ConnectAsync(bridge.Url, o => o.SetRequestHeader("Origin", "https://APP.example"));

        Assert.NotEqual(0, client.Announced.Port);
    }

    [Fact]
    public async Task PlainHttpRequest_IsRefusedWith400()
    {
        await using TestBridge bridge = await TestBridge.StartAsync();
        using var http = new HttpClient();

        using HttpResponseMessage response = await http.GetAsync(new UriBuilder(bridge.Url) { Scheme = "http" }.Uri).WaitAsync(BridgeClient.Timeout);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(1, bridge.Metrics.Total("p2pnet.bridge.connections.rejected", "reason=not_websocket"));
    }

    private static async Task<HttpStatusCode> FailedHandshakeStatusAsync(Uri url, Action<ClientWebSocketOptions> configure)
    {
        using var webSocket = new ClientWebSocket();
        webSocket.Options.CollectHttpResponseDetails = true;
        configure(webSocket.Options);
        await Assert.ThrowsAsync<WebSocketException>(() => webSocket.ConnectAsync(url, CancellationToken.None).WaitAsync(BridgeClient.Timeout));
        return webSocket.HttpStatusCode;
    }
}
