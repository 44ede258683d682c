using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using P2PNet.Proxy.UdpBridge.Internal;

namespace P2PNet.Proxy.UdpBridge;

/// <summary>
/// A standalone WebSocket-to-UDP bridge: a minimal Kestrel server that serves only the bridge endpoint.
/// </summary>
/// <remarks>
/// <para>Start it with <see cref="StartAsync"/>; <see cref="Url"/> then gives the bound <c>ws://</c> URL (port 0
/// picks a free port). <see cref="StopAsync"/> closes every client with close code 1001 before it returns.</para>
/// <para>To add the bridge to an existing ASP.NET Core application instead (for TLS, static files or other
/// endpoints), use <c>services.AddUdpBridge(…)</c> and <c>app.MapUdpBridge("/udp")</c>.</para>
/// <para>Start and stop may be called once each, from one thread; the properties are thread-safe once started.</para>
/// </remarks>
public sealed class UdpBridgeServer : IAsyncDisposable
{
    private readonly IPEndPoint _listenEndPoint;
    private readonly string _path;
    private readonly Action<UdpBridgeOptions>? _configure;
    private readonly ILoggerFactory? _loggerFactory;
    private WebApplication? _app;
    private Uri? _url;
    private IPEndPoint? _localEndPoint;
    private bool _stopped;

    /// <summary>Prepares a bridge server; nothing is bound until <see cref="StartAsync"/>.</summary>
    /// <param name="listenEndPoint">Where Kestrel listens, for example <c>127.0.0.1:0</c> or <c>[::]:8080</c>.</param>
    /// <param name="configure">Changes to the defaults of <see cref="UdpBridgeOptions"/>; may be <see langword="null"/>.</param>
    /// <param name="path">The WebSocket endpoint's path, <c>/udp</c> by default.</param>
    /// <param name="loggerFactory">Where the bridge logs; <see langword="null"/> for no logging.</param>
    public UdpBridgeServer(
        IPEndPoint listenEndPoint,
        Action<UdpBridgeOptions>? configure = null,
        string path = "/udp",
        ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(listenEndPoint);
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!path.StartsWith('/'))
        {
            throw new ArgumentException("The path must start with '/'.", nameof(path));
        }

        _listenEndPoint = listenEndPoint;
        _configure = configure;
        _path = path;
        _loggerFactory = loggerFactory;
    }

    /// <summary>The bound WebSocket URL, for example <c>ws://127.0.0.1:41234/udp</c>.</summary>
    /// <exception cref="InvalidOperationException">The server has not been started.</exception>
    public Uri Url => _url ?? throw new InvalidOperationException("The bridge server has not been started.");

    /// <summary>The bound TCP endpoint (the actual port when 0 was asked for).</summary>
    /// <exception cref="InvalidOperationException">The server has not been started.</exception>
    public IPEndPoint LocalEndPoint => _localEndPoint ?? throw new InvalidOperationException("The bridge server has not been started.");

    /// <summary>The server's services (options, <see cref="System.Diagnostics.Metrics.IMeterFactory"/>, …); for diagnostics.</summary>
    /// <exception cref="InvalidOperationException">The server has not been started.</exception>
    public IServiceProvider Services => _app?.Services ?? throw new InvalidOperationException("The bridge server has not been started.");

    /// <summary>Binds the listening socket and starts accepting clients.</summary>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <exception cref="InvalidOperationException">Already started.</exception>
    /// <exception cref="IOException">The endpoint could not be bound (in use, no permission).</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_app is not null)
        {
            throw new InvalidOperationException("The bridge server was already started.");
        }

        // An empty builder: no configuration files or environment variables from the working directory leak in.
        WebApplicationBuilder builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        if (_loggerFactory is not null)
        {
            builder.Services.AddSingleton(_loggerFactory);
        }

        builder.Services.AddSingleton<IHostLifetime, EmbeddedHostLifetime>();
        builder.Services.AddUdpBridge(_configure);

        // The server runs only the bridge, whose code never blocks: continuations may run on the socket threads,
        // which saves a thread-pool hop per message.
        builder.WebHost.UseSockets(sockets => sockets.UnsafePreferInlineScheduling = true);

        // Kestrel hands each connection straight to the bridge, which does the WebSocket handshake itself: an idle
        // client then holds no HTTP request state (the in-app MapUdpBridge path keeps the full HTTP pipeline).
        UdpBridgeConnectionHandler? handler = null;
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(_listenEndPoint, listen => listen.Run(connection => handler!.OnConnectedAsync(connection)));
        });

        WebApplication app = builder.Build();
        handler = new UdpBridgeConnectionHandler(app.Services.GetRequiredService<UdpBridgeService>(), _path);
        _app = app;
        await app.StartAsync(cancellationToken).ConfigureAwait(false);

        IServerAddressesFeature? addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>();
        string bound = addresses?.Addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("Kestrel reported no bound address.");
        var http = new Uri(bound);
        int port = http.Port;
        _localEndPoint = new IPEndPoint(_listenEndPoint.Address, port);
        string host = _listenEndPoint.Address.AddressFamily == AddressFamily.InterNetworkV6
            ? $"[{_listenEndPoint.Address}]"
            : _listenEndPoint.Address.ToString();
        _url = new Uri($"ws://{host}:{port}{_path}");
    }

    /// <summary>
    /// Closes every client with 1001 (going away), waiting up to <see cref="UdpBridgeOptions.CloseTimeout"/> for
    /// browsers to answer, then stops listening.
    /// </summary>
    /// <param name="cancellationToken">Cut the graceful part short: remaining connections are aborted.</param>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (_app is not null && !_stopped)
        {
            _stopped = true;
            await _app.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Stops the server if running and releases it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await StopAsync().ConfigureAwait(false);
            await _app.DisposeAsync().ConfigureAwait(false);
            _app = null;
        }
    }
}
