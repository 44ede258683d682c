using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using P2PNet.Proxy.UdpBridge.Internal;

namespace P2PNet.Proxy.Outbound;

/// <summary>The net-api on a Kestrel server of its own (127.0.0.1:7465 by default, as in the outbound-gateway design's
/// example). Inside an existing ASP.NET Core application use <c>app.MapNetApi(netApi)</c> instead.</summary>
/// <remarks>Start and stop once each. The <see cref="NetApi"/> stays the caller's.</remarks>
public sealed class NetApiServer : IAsyncDisposable
{
    /// <summary>127.0.0.1:7465.</summary>
    public static readonly IPEndPoint DefaultEndPoint = new(IPAddress.Loopback, 7465);

    private readonly NetApi _api;
    private readonly IPEndPoint _listenEndPoint;
    private readonly ILoggerFactory? _loggerFactory;
    private WebApplication? _app;
    private Uri? _url;

    /// <summary>Prepares the server; nothing is bound until <see cref="StartAsync"/>.</summary>
    public NetApiServer(NetApi api, IPEndPoint? listenEndPoint = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(api);
        _api = api;
        _listenEndPoint = listenEndPoint ?? DefaultEndPoint;
        _loggerFactory = loggerFactory;
    }

    /// <summary>The base URL, e.g. <c>http://127.0.0.1:7465</c>.</summary>
    /// <exception cref="InvalidOperationException">Not started.</exception>
    public Uri Url => _url ?? throw new InvalidOperationException("The net-api server has not been started.");

    /// <summary>Binds and starts serving.</summary>
    /// <exception cref="IOException">The endpoint could not be bound.</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_app is not null)
        {
            throw new InvalidOperationException("The net-api server was already started.");
        }
        WebApplicationBuilder builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        if (_loggerFactory is not null)
        {
            builder.Services.AddSingleton(_loggerFactory);
        }
        builder.Services.AddSingleton<IHostLifetime, EmbeddedHostLifetime>();
        builder.Services.AddRoutingCore();
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(_listenEndPoint);
        });
        WebApplication app = builder.Build();
        app.UseWebSockets();
        app.UseRouting();
        app.MapNetApi(_api);
        _app = app;
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        string bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("Kestrel reported no bound address.");
        int port = new Uri(bound).Port;
        string host = _listenEndPoint.Address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{_listenEndPoint.Address}]" : _listenEndPoint.Address.ToString();
        _url = new Uri($"http://{host}:{port}");
    }

    /// <summary>Stops serving.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync().ConfigureAwait(false);
            await _app.DisposeAsync().ConfigureAwait(false);
            _app = null;
        }
    }
}
