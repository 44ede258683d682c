using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

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
        (_app, _url) = await Hosting.Internal.EmbeddedKestrel.StartAsync(_listenEndPoint, _loggerFactory, null, app => app.MapNetApi(_api), cancellationToken)
            .ConfigureAwait(false);
    }

    /// <summary>Stops serving.</summary>
    public async ValueTask DisposeAsync()
    {
        await Hosting.Internal.EmbeddedKestrel.StopAsync(_app).ConfigureAwait(false);
        _app = null;
    }
}
