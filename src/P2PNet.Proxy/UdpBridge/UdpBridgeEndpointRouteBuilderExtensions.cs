using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using P2PNet.Proxy.UdpBridge;
using P2PNet.Proxy.UdpBridge.Internal;

// In the framework's namespace, as MapGet and MapHealthChecks are: MapUdpBridge shows up without an extra using.
namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the WebSocket-to-UDP bridge into an ASP.NET Core application.</summary>
public static class UdpBridgeEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Serves the bridge's WebSocket endpoint at <paramref name="pattern"/>: each WebSocket client gets its own UDP
    /// socket and exchanges datagram frames as described in docs/bridge.md. Requires
    /// <see cref="UdpBridgeServiceCollectionExtensions.AddUdpBridge"/>; the WebSocket middleware is included, so
    /// <c>app.UseWebSockets()</c> is not needed.
    /// </summary>
    /// <param name="endpoints">The application's endpoint route builder.</param>
    /// <param name="pattern">The route pattern, <c>/udp</c> by default.</param>
    /// <returns>A builder to add conventions (authorization, host filters, …) to the endpoint.</returns>
    /// <exception cref="InvalidOperationException"><c>AddUdpBridge</c> was not called.</exception>
    public static IEndpointConventionBuilder MapUdpBridge(this IEndpointRouteBuilder endpoints, string pattern = "/udp")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrEmpty(pattern);

        UdpBridgeService bridge = endpoints.ServiceProvider.GetService<UdpBridgeService>()
            ?? throw new InvalidOperationException(
                "The UDP bridge's services are missing: call services.AddUdpBridge(...) before app.MapUdpBridge(...).");

        IApplicationBuilder branch = endpoints.CreateApplicationBuilder();
        branch.UseWebSockets();
        branch.Run(bridge.HandleAsync);
        RequestDelegate pipeline = branch.Build();
        return endpoints.Map(pattern, pipeline).WithDisplayName("UDP bridge " + pattern);
    }
}
