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

namespace P2PNet.Proxy.Inbound;

/// <summary>
/// The inbound proxy's management API on a Kestrel server of its own (HTTP/1.1, 127.0.0.1:7466 by default as in the
/// inbound-proxy design). To serve it inside an existing ASP.NET Core application instead (for TLS or other endpoints),
/// use <c>app.MapInboundProxyApi(proxy)</c>.
/// </summary>
/// <remarks>Start and stop once each, from one thread. The proxy stays the caller's: stopping the server unbinds nothing.</remarks>
public sealed class InboundProxyApiServer : IAsyncDisposable
{
    /// <summary>The design's default management endpoint, 127.0.0.1:7466.</summary>
    public static readonly IPEndPoint DefaultEndPoint = new(IPAddress.Loopback, 7466);

    private readonly InboundProxy _proxy;
    private readonly IPEndPoint _listenEndPoint;
    private readonly InboundProxyApiOptions _options;
    private readonly ILoggerFactory? _loggerFactory;
    private WebApplication? _app;
    private Uri? _url;

    /// <summary>Prepares the server; nothing is bound until <see cref="StartAsync"/>.</summary>
    /// <param name="proxy">The proxy to manage.</param>
    /// <param name="listenEndPoint">Where to listen; <see cref="DefaultEndPoint"/> when null (port 0 picks one).</param>
    /// <param name="options">Bearer token and limits; defaults when null.</param>
    /// <param name="loggerFactory">Where Kestrel logs; nowhere when null.</param>
    public InboundProxyApiServer(InboundProxy proxy, IPEndPoint? listenEndPoint = null, InboundProxyApiOptions? options = null,
        ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(proxy);
        _proxy = proxy;
        _listenEndPoint = listenEndPoint ?? DefaultEndPoint;
        _options = options ?? new InboundProxyApiOptions();
        _loggerFactory = loggerFactory;
    }

    /// <summary>The API's base URL, e.g. <c>http://127.0.0.1:7466</c>.</summary>
    /// <exception cref="InvalidOperationException">Not started.</exception>
    public Uri Url => _url ?? throw new InvalidOperationException("The API server has not been started.");

    /// <summary>Binds and starts serving.</summary>
    /// <exception cref="InvalidOperationException">Already started.</exception>
    /// <exception cref="IOException">The endpoint could not be bound (in use, no permission).</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_app is not null)
        {
            throw new InvalidOperationException("The API server was already started.");
        }
        // An empty builder: no configuration files or environment variables from the working directory leak in.
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
            kestrel.Limits.MaxRequestBodySize = _options.MaxBodySize;
            kestrel.Listen(_listenEndPoint);
        });
        WebApplication app = builder.Build();
        app.UseRouting();
        app.MapInboundProxyApi(_proxy, _options);
        _app = app;
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        string bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("Kestrel reported no bound address.");
        int port = new Uri(bound).Port;
        string host = _listenEndPoint.Address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{_listenEndPoint.Address}]" : _listenEndPoint.Address.ToString();
        _url = new Uri($"http://{host}:{port}");
    }

    /// <summary>Stops serving (requests in flight finish first).</summary>
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
