using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using P2PNet.Proxy.UdpBridge;

namespace P2PNet.Proxy.Tests.UdpBridge;

/// <summary>The two ways to host the bridge: inside an ASP.NET Core app, and standalone.</summary>
public sealed class UdpBridgeHostingTests
{
    [Fact]
    public async Task MapUdpBridge_InAnExistingApp_ServesTheBridgeBesideOtherEndpoints()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddUdpBridge(o => o.AllowedNetworks.Add(IPNetwork.Parse("127.0.0.0/8")));
        await using WebApplication app = builder.Build();
        app.MapGet("/health", () => "ok");
        app.MapUdpBridge("/bridge/v1");
        await app.StartAsync().WaitAsync(BridgeClient.Timeout);
        var http = new Uri(app.Urls.First());

        await using var echo = new UdpEchoServer(IPAddress.Loopback);
        await using (BridgeClient client = await BridgeClient.ConnectAsync(new Uri($"ws://127.0.0.1:{http.Port}/bridge/v1")))
        {
            await client.SendAsync(echo.EndPoint, "in-app"u8);
            Assert.Equal("in-app"u8.ToArray(), (await client.ReceiveAsync()).Payload);
        }

        using var httpClient = new HttpClient();
        Assert.Equal("ok", await httpClient.GetStringAsync(new Uri(http, "/health")).WaitAsync(BridgeClient.Timeout));
        await app.StopAsync().WaitAsync(BridgeClient.Timeout);
    }

    [Fact]
    public void MapUdpBridge_WithoutAddUdpBridge_SaysWhatIsMissing()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        using WebApplication app = builder.Build();

        InvalidOperationException e = Assert.Throws<InvalidOperationException>(() => app.MapUdpBridge());
        Assert.Contains("AddUdpBridge", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidOptions_FailTheStart()
    {
        await using var server = new UdpBridgeServer(new IPEndPoint(IPAddress.Loopback, 0), o =>
        {
            o.MaxDatagramSize = 2000;
            o.MaxBytesPerSecond = 1000;
        });

        OptionsValidationException e = await Assert.ThrowsAsync<OptionsValidationException>(() => server.StartAsync().WaitAsync(BridgeClient.Timeout));
        Assert.Contains("MaxBytesPerSecond", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StandaloneServer_OnPortZero_ReportsTheBoundUrl()
    {
        await using var server = new UdpBridgeServer(new IPEndPoint(IPAddress.Loopback, 0), path: "/custom");
        Assert.Throws<InvalidOperationException>(() => server.Url);

        await server.StartAsync().WaitAsync(BridgeClient.Timeout);

        Assert.Equal("ws", server.Url.Scheme);
        Assert.Equal("127.0.0.1", server.Url.Host);
        Assert.NotEqual(0, server.Url.Port);
        Assert.Equal("/custom", server.Url.AbsolutePath);
        Assert.Equal(server.Url.Port, server.LocalEndPoint.Port);
        await using BridgeClient client = await BridgeClient.ConnectAsync(server.Url);
        Assert.NotEqual(0, client.Announced.Port);
    }

    [Fact]
    public async Task StandaloneServer_OnIPv6Loopback_Works()
    {
        await using var server = new UdpBridgeServer(new IPEndPoint(IPAddress.IPv6Loopback, 0), o => o.AllowedNetworks.Add(IPNetwork.Parse("::1/128")));
        await server.StartAsync().WaitAsync(BridgeClient.Timeout);
        await using var echo = new UdpEchoServer(IPAddress.IPv6Loopback);

        Assert.StartsWith("ws://[::1]:", server.Url.ToString(), StringComparison.Ordinal);
        await using BridgeClient client = await BridgeClient.ConnectAsync(server.Url);
        Assert.Equal(IPAddress.IPv6Loopback, client.Announced.Address);
        await client.SendAsync(echo.EndPoint, "v6"u8);
        Assert.Equal("v6"u8.ToArray(), (await client.ReceiveAsync()).Payload);
    }
}
