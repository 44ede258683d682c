using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

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
        (_app, _url) = await Hosting.Internal.EmbeddedKestrel.StartAsync(_listenEndPoint, _loggerFactory, _options.MaxBodySize, app => app.MapInboundProxyApi(_proxy, _options), cancellationToken)
            .ConfigureAwait(false);
    }

    /// <summary>Stops serving (requests in flight finish first).</summary>
    public async ValueTask DisposeAsync()
    {
        await Hosting.Internal.EmbeddedKestrel.StopAsync(_app).ConfigureAwait(false);
        _app = null;
    }
}
