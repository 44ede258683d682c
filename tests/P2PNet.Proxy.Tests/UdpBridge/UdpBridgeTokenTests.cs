using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using P2PNet.Proxy.UdpBridge;
using P2PNet.Proxy.UdpBridge.Internal;

namespace P2PNet.Proxy.Tests.UdpBridge;

/// <summary>
/// The bearer token's forms (Authorization header, Sec-WebSocket-Protocol entry, query) and what the bridge does with
/// it: never selects the token entry as the subprotocol, never leaves it in the request for logs.
/// </summary>
public sealed class UdpBridgeTokenTests
{
    private const string Token = "s3cret-t0ken-42";

    [Fact]
    public async Task Token_InSubProtocolEntry_IsAccepted_AndTheBridgeProtocolIsSelected()
    {
        await using TestBridge bridge = await TestBridge.StartAsync(o => o.BearerToken = Token);

        await using BridgeClient client = await BridgeClient.ConnectAsync(bridge.Url, o =>
        {
            o.AddSubProtocol("p2pnet.udp");
            o.AddSubProtocol("p2pnet.token." + Token);
        });

        Assert.Equal("p2pnet.udp", client.WebSocket.SubProtocol);
    }

    [Fact]
    public async Task Token_InSubProtocolEntry_IsNeverEchoedInTheResponse()
    {
        await using TestBridge bridge = await TestBridge.StartAsync(o => o.BearerToken = Token);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, bridge.Url.Port)).WaitAsync(BridgeClient.Timeout);

        await socket.SendAsync(Encoding.ASCII.GetBytes(
            "GET /udp HTTP/1.1\r\nHost: bridge\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            + $"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: p2pnet.token.{Token}, p2pnet.udp\r\n\r\n"))
            .WaitAsync(BridgeClient.Timeout);
        byte[] buffer = new byte[1024];
        var head = new StringBuilder();
        while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
        {
            int n = await socket.ReceiveAsync(buffer).WaitAsync(BridgeClient.Timeout);
            Assert.True(n > 0, "The bridge closed before answering.");
            head.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }

        string response = head.ToString();
        Assert.StartsWith("HTTP/1.1 101 ", response, StringComparison.Ordinal);
        Assert.Contains("\r\nSec-WebSocket-Protocol: p2pnet.udp\r\n", response, StringComparison.Ordinal);
        Assert.DoesNotContain(Token, response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Token_WrongInSubProtocolEntry_IsRefusedWith401()
    {
        await using TestBridge bridge = await TestBridge.StartAsync(o => o.BearerToken = Token);
        using var webSocket = new ClientWebSocket();
        webSocket.Options.CollectHttpResponseDetails = true;
        webSocket.Options.AddSubProtocol("p2pnet.udp");
        webSocket.Options.AddSubProtocol("p2pnet.token." + Token + "x");

        await Assert.ThrowsAsync<WebSocketException>(() => webSocket.ConnectAsync(bridge.Url, CancellationToken.None).WaitAsync(BridgeClient.Timeout));

        Assert.Equal(HttpStatusCode.Unauthorized, webSocket.HttpStatusCode);
        Assert.Equal(1, bridge.Metrics.Total("p2pnet.bridge.connections.rejected", "reason=unauthorized"));
    }

    [Fact]
    public async Task InApp_TokenInSubProtocolEntry_IsAccepted_AndTheBridgeProtocolIsSelected()
    {
        await using InAppBridge app = await InAppBridge.StartAsync(null);

        await using BridgeClient client = await BridgeClient.ConnectAsync(app.Url, o =>
        {
            o.AddSubProtocol("p2pnet.udp");
            o.AddSubProtocol("p2pnet.token." + Token);
        });

        Assert.Equal("p2pnet.udp", client.WebSocket.SubProtocol);
    }

    [Fact]
    public async Task InApp_QueryToken_IsRedactedFromTheRequestLog()
    {
        var logs = new CapturedLogs();
        await using (InAppBridge app = await InAppBridge.StartAsync(logs))
        {
            await using (BridgeClient client = await BridgeClient.ConnectAsync(new Uri(app.Url + "?v=1&access_token=" + Token)))
            {
                Assert.NotEqual(0, client.Announced.Port);
            }

            // The host logs "Request finished …" with the request's path and query once the websocket is done.
            await logs.WaitForAsync(line => line.Contains("Request finished", StringComparison.Ordinal) && line.Contains("/udp", StringComparison.Ordinal));
        }

        string finished = logs.Lines.First(line => line.Contains("Request finished", StringComparison.Ordinal) && line.Contains("/udp", StringComparison.Ordinal));
        Assert.DoesNotContain(Token, finished, StringComparison.Ordinal);
        Assert.Contains("access_token=redacted", finished, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Standalone_QueryToken_AppearsInNoLog()
    {
        var logs = new CapturedLogs();
        using ILoggerFactory loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace));
        await using var server = new UdpBridgeServer(new IPEndPoint(IPAddress.Loopback, 0), o => o.BearerToken = Token, loggerFactory: loggerFactory);
        await server.StartAsync().WaitAsync(BridgeClient.Timeout);

        await using (BridgeClient client = await BridgeClient.ConnectAsync(new Uri(server.Url + "?access_token=" + Token)))
        {
            Assert.NotEqual(0, client.Announced.Port);
        }

        using (var refused = new ClientWebSocket())
        {
            await Assert.ThrowsAsync<WebSocketException>(() => refused.ConnectAsync(new Uri(server.Url + "?access_token=" + Token + "-wrong"), CancellationToken.None)
                .WaitAsync(BridgeClient.Timeout));
        }

        await server.StopAsync().WaitAsync(BridgeClient.Timeout);
        Assert.Contains(logs.Lines, line => line.Contains("unauthorized", StringComparison.Ordinal));
        Assert.DoesNotContain(logs.Lines, line => line.Contains(Token, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(Token, true)]
    [InlineData("s3cret-t0ken-43", false)]      // same length, last character wrong
    [InlineData("s3cret-t0ken-4", false)]       // a prefix
    [InlineData(Token + "2", false)]            // longer
    [InlineData("", false)]
    [InlineData("s3cret-t0ken-42\u00e9", false)]
    public void TokenMatches_OnlyTheExactToken(string presented, bool expected)
    {
        using ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var bridge = new UdpBridgeService(
            Microsoft.Extensions.Options.Options.Create(new UdpBridgeOptions { BearerToken = Token }),
            TimeProvider.System,
            services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<UdpBridgeService>.Instance);

        Assert.Equal(expected, bridge.TokenMatches(presented));
    }

    [Theory]
    [InlineData("?access_token=abc", "?access_token=redacted")]
    [InlineData("?a=1&access_token=abc&b=2", "?a=1&access_token=redacted&b=2")]
    [InlineData("?access%5Ftoken=abc", "?access_token=redacted")]
    [InlineData("?a=1", "?a=1")]
    public void RedactAccessToken_ReplacesOnlyTheTokensValue(string query, string expected) =>
        Assert.Equal(expected, UdpBridgeService.RedactAccessToken(query));

    [Theory]
    [InlineData("p2pnet.udp")]
    [InlineData("other, p2pnet.udp")]
    public void SelectSubProtocol_PicksTheBridgeProtocol_NeverTheToken(string offered) =>
        Assert.Equal("p2pnet.udp", UdpBridgeService.SelectSubProtocol([.. offered.Split(',').Select(p => p.Trim()), "p2pnet.token." + Token]));

    [Fact]
    public void SelectSubProtocol_WithOnlyATokenEntry_SelectsNone() =>
        Assert.Null(UdpBridgeService.SelectSubProtocol(["p2pnet.token." + Token]));

    /// <summary>The bridge inside an ASP.NET Core application with a token, optionally logging to <see cref="CapturedLogs"/>.</summary>
    private sealed class InAppBridge(WebApplication app, Uri url) : IAsyncDisposable
    {
        public Uri Url { get; } = url;

        public static async Task<InAppBridge> StartAsync(CapturedLogs? logs)
        {
            WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
            if (logs is not null)
            {
                builder.Logging.ClearProviders().AddProvider(logs).SetMinimumLevel(LogLevel.Debug);
            }

            builder.Services.AddUdpBridge(o => o.BearerToken = Token);
            WebApplication app = builder.Build();
            app.MapUdpBridge("/udp");
            await app.StartAsync().WaitAsync(BridgeClient.Timeout);
            var http = new Uri(app.Urls.First());
            return new InAppBridge(app, new Uri($"ws://127.0.0.1:{http.Port}/udp"));
        }

        public async ValueTask DisposeAsync()
        {
            await app.StopAsync().WaitAsync(BridgeClient.Timeout);
            await app.DisposeAsync().AsTask().WaitAsync(BridgeClient.Timeout);
        }
    }
}
