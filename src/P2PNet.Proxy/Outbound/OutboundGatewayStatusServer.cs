using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace P2PNet.Proxy.Outbound;

/// <summary>The gateway's status API: <c>GET /status</c> answers <see cref="OutboundGateway.GetStatusJson"/>.</summary>
public sealed class OutboundGatewayStatusServer : IAsyncDisposable
{
    private readonly OutboundGateway _gateway;
    private readonly IPEndPoint _listen;
    private readonly ILoggerFactory? _loggerFactory;
    private WebApplication? _app;
    private Uri? _url;

    /// <summary>Prepares the server (127.0.0.1:7467 by default).</summary>
    public OutboundGatewayStatusServer(OutboundGateway gateway, IPEndPoint? listenEndPoint = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(gateway);
        _gateway = gateway;
        _listen = listenEndPoint ?? new IPEndPoint(IPAddress.Loopback, 7467);
        _loggerFactory = loggerFactory;
    }

    /// <summary>The base URL.</summary>
    public Uri Url => _url ?? throw new InvalidOperationException("The status server has not been started.");

    /// <summary>Binds and serves.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        (_app, _url) = await Hosting.Internal.EmbeddedKestrel.StartAsync(_listen, _loggerFactory, 0, app => app.MapGet("/status", async context =>
        {
            context.Response.ContentType = "application/json; charset=utf-8";
            await context.Response.Body.WriteAsync(_gateway.GetStatusJson(), context.RequestAborted).ConfigureAwait(false);
        }), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stops serving.</summary>
    public async ValueTask DisposeAsync()
    {
        await Hosting.Internal.EmbeddedKestrel.StopAsync(_app).ConfigureAwait(false);
        _app = null;
    }
}
