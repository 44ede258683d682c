using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using P2PNet.Proxy.Inbound;
using P2PNet.Proxy.Inbound.Internal;

// In the framework's namespace, as MapGet and MapHealthChecks are: MapInboundProxyApi shows up without an extra using.
namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the inbound proxy's management API (Probe, Gateway and Status APIs, and its OpenAPI document) into an
/// ASP.NET Core application.</summary>
public static class InboundProxyEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Serves <c>/probe-api/v1/</c>, <c>/gateway-api/v1/</c>, <c>/status-api/v1/</c> and <c>/openapi/v1.json</c> for
    /// <paramref name="proxy"/>. JSON in and out uses the design's PascalCase names; errors are problem+json bodies with
    /// the field at fault (400 bad input, 404 unknown, 409 conflict, 401 without the bearer token when one is set).
    /// </summary>
    /// <param name="endpoints">The application's endpoint route builder.</param>
    /// <param name="proxy">The proxy the API manages.</param>
    /// <param name="options">The bearer token and body limit; defaults (no token) when null.</param>
    /// <returns>The endpoints, to add conventions (host filters, …) to.</returns>
    public static IEndpointConventionBuilder MapInboundProxyApi(this IEndpointRouteBuilder endpoints, InboundProxy proxy,
        InboundProxyApiOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(proxy);
        var api = new InboundProxyApi(proxy, options ?? new InboundProxyApiOptions());
        var group = endpoints.MapGroup("");
        foreach (var route in InboundProxyApi.Routes)
        {
            var handler = route.Handler;
            group.MapMethods(route.Pattern, [route.Method], context => api.HandleAsync(context, handler, route.Public))
                .WithDisplayName($"{route.Method} {route.Pattern}");
        }
        return group;
    }
}
