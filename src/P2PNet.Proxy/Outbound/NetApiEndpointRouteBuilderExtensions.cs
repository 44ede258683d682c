using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using P2PNet.Proxy.Outbound;
using P2PNet.Proxy.Outbound.Internal;

// In the framework's namespace, as MapGet is: MapNetApi shows up without an extra using.
namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the outbound-gateway design's net-api into an ASP.NET Core application.</summary>
public static class NetApiEndpointRouteBuilderExtensions
{
    /// <summary>Serves <c>/net-api/v2/net…</c> for <paramref name="api"/>, the raw-packet websocket included (the
    /// application must call <c>app.UseWebSockets()</c>). Errors are <c>{"message": "…"}</c> with 400, 404, 409 or 502.</summary>
    /// <param name="endpoints">The application's endpoint route builder.</param>
    /// <param name="api">The networks to serve.</param>
    /// <returns>The endpoints, for conventions (authorization, host filters).</returns>
    public static IEndpointConventionBuilder MapNetApi(this IEndpointRouteBuilder endpoints, NetApi api)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(api);
        var handlers = new NetApiEndpoints(api);
        var group = endpoints.MapGroup("");
        foreach (var (method, pattern, handler) in NetApiEndpoints.Routes)
        {
            group.MapMethods(pattern, [method], context => handlers.HandleAsync(context, handler)).WithDisplayName($"{method} {pattern}");
        }
        return group;
    }
}
