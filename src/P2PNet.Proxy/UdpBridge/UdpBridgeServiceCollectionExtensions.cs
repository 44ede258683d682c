using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.AspNetCore.Builder;
using P2PNet.Proxy.UdpBridge;
using P2PNet.Proxy.UdpBridge.Internal;

// In the framework's namespace, as AddRouting and AddHealthChecks are: AddUdpBridge shows up without an extra using.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the WebSocket-to-UDP bridge with dependency injection.</summary>
public static class UdpBridgeServiceCollectionExtensions
{
    /// <summary>
    /// Adds the bridge's services: options (validated when the host starts), metrics, and a hosted service that sweeps
    /// idle clients and closes every client on shutdown. Map the endpoint with
    /// <see cref="UdpBridgeEndpointRouteBuilderExtensions.MapUdpBridge"/>.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Changes to the defaults of <see cref="UdpBridgeOptions"/>; may be <see langword="null"/>.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    public static IServiceCollection AddUdpBridge(this IServiceCollection services, Action<UdpBridgeOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);

        OptionsBuilder<UdpBridgeOptions> options = services.AddOptions<UdpBridgeOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<UdpBridgeOptions>, UdpBridgeOptionsValidator>());
        services.AddMetrics();
        services.AddLogging();
        services.TryAddSingleton(TimeProvider.System);
        if (!services.Any(d => d.ServiceType == typeof(UdpBridgeService)))
        {
            services.AddSingleton<UdpBridgeService>();
            services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<UdpBridgeService>());
        }

        return services;
    }
}
