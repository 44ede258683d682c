using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using P2PNet.Vpn;
using P2PNet.Vpn.Hosting;

// In the framework's namespace, as AddLogging and AddHealthChecks are: AddVpn shows up without an extra using.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers a VPN coordinator or member with the application: <c>services.AddVpn(…)</c>.</summary>
public static class VpnServiceCollectionExtensions
{
    /// <summary>
    /// Adds a <see cref="VpnService"/> (resolvable, and a hosted service started after the host's) that runs the
    /// coordinator or member described by <paramref name="configure"/>, on the container's <see cref="IPacketDevice"/> if
    /// one is registered, else on a new TUN device. Adds the host with <c>AddP2PNet()</c> if it is not yet registered.
    /// The options are validated at start-up.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">The role, members or coordinator, and VPN settings.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    public static IServiceCollection AddVpn(this IServiceCollection services, Action<VpnServiceOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        AddCore(services, nameof(VpnServiceOptions), null).Configure(configure);
        return services;
    }

    /// <summary>As <see cref="AddVpn(IServiceCollection, Action{VpnServiceOptions})"/>, with the options bound from
    /// <paramref name="configuration"/> (e.g. the <c>P2PNet:Vpn</c> section: <c>Coordinator</c>, <c>Members</c>,
    /// <c>CoordinatorAddress</c>, <c>RequestedAddress</c>, <c>TunName</c>, <c>Vpn:Mtu</c>, …).</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The section to bind.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    [RequiresUnreferencedCode("Binds VpnServiceOptions from configuration by reflection; use the Action overload when trimming.")]
    [RequiresDynamicCode("Binds VpnServiceOptions from configuration by reflection; use the Action overload for native AOT.")]
    public static IServiceCollection AddVpn(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        string prefix = (configuration as IConfigurationSection)?.Path is { Length: > 0 } path ? path : nameof(VpnServiceOptions);
        AddCore(services, prefix, configuration).Bind(configuration);
        return services;
    }

    /// <summary>Adds a <see cref="VpnHealthCheck"/> (VPN up) of the service added by <c>AddVpn</c>.</summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="name">The check's name. Default <c>p2pnet-vpn</c>.</param>
    /// <param name="failureStatus">What "down" reports. Default <see cref="HealthStatus.Unhealthy"/>.</param>
    /// <param name="tags">Tags to filter checks by.</param>
    /// <returns><paramref name="builder"/>, for chaining.</returns>
    public static IHealthChecksBuilder AddVpn(this IHealthChecksBuilder builder, string name = "p2pnet-vpn",
        HealthStatus? failureStatus = null, IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Add(new HealthCheckRegistration(name,
            sp => new VpnHealthCheck(sp.GetRequiredService<VpnService>()), failureStatus, tags));
    }

    private static OptionsBuilder<VpnServiceOptions> AddCore(IServiceCollection services, string prefix, IConfiguration? configuration)
    {
        services.AddP2PNet(); // the host's hosted service must be registered, and so start, first
        for (int i = services.Count - 1; i >= 0; i--)
        {
            if (services[i].ImplementationInstance is VpnServiceOptionsValidator)
            {
                services.RemoveAt(i);
            }
        }
        services.AddSingleton<IValidateOptions<VpnServiceOptions>>(new VpnServiceOptionsValidator(prefix, configuration));
        services.TryAddSingleton<VpnService>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, VpnService>(sp => sp.GetRequiredService<VpnService>()));
        return services.AddOptions<VpnServiceOptions>().ValidateOnStart();
    }
}
