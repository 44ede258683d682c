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

namespace P2PNet.Proxy.Hosting.Internal;

/// <summary>A minimal Kestrel application for a management API (the inbound proxy's, the net-api, the gateway's status):
/// an empty builder (no configuration files or environment variables from the working directory leak in), routing,
/// WebSockets, one HTTP endpoint.</summary>
internal static class EmbeddedKestrel
{
    /// <summary>Builds, maps and starts the application; returns it with its base URL (<c>http://IP:PORT</c>).</summary>
    public static async Task<(WebApplication App, Uri Url)> StartAsync(IPEndPoint listen, ILoggerFactory? loggerFactory, long? maxBodySize,
        Action<WebApplication> map, CancellationToken cancellationToken)
    {
        WebApplicationBuilder builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        if (loggerFactory is not null)
        {
            builder.Services.AddSingleton(loggerFactory);
        }
        builder.Services.AddSingleton<IHostLifetime, EmbeddedHostLifetime>();
        builder.Services.AddRoutingCore();
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            if (maxBodySize is { } limit)
            {
                kestrel.Limits.MaxRequestBodySize = limit;
            }
            kestrel.Listen(listen);
        });
        WebApplication app = builder.Build();
        app.UseWebSockets();
        app.UseRouting();
        map(app);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        string bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("Kestrel reported no bound address.");
        int port = new Uri(bound).Port;
        string host = listen.Address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{listen.Address}]" : listen.Address.ToString();
        return (app, new Uri($"http://{host}:{port}"));
    }

    public static async ValueTask StopAsync(WebApplication? app)
    {
        if (app is not null)
        {
            await app.StopAsync().ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
        }
    }
}
