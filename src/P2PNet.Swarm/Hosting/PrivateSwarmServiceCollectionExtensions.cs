using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using P2PNet.Swarm.Hosting;

// In the framework's namespace, as AddLogging and AddHealthChecks are: AddPrivateSwarm shows up without an extra using.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers a private swarm owner or member with the application: <c>services.AddPrivateSwarm(…)</c>.</summary>
public static class PrivateSwarmServiceCollectionExtensions
{
    /// <summary>
    /// Adds a <see cref="PrivateSwarmService"/> (resolvable, and a hosted service started after the host's) that runs the
    /// owner or member described by <paramref name="configure"/>. Adds the host with <c>AddP2PNet()</c> if it is not yet
    /// registered. The options are validated at start-up.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">The role, store and swarm.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    public static IServiceCollection AddPrivateSwarm(this IServiceCollection services, Action<PrivateSwarmServiceOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        AddCore(services, nameof(PrivateSwarmServiceOptions), null).Configure(configure);
        return services;
    }

    /// <summary>As <see cref="AddPrivateSwarm(IServiceCollection, Action{PrivateSwarmServiceOptions})"/>, with the options
    /// bound from <paramref name="configuration"/> (e.g. the <c>P2PNet:Swarm</c> section: <c>Role</c>, <c>StorePath</c>,
    /// <c>SwarmId</c>, <c>AuthorizedPeers</c>, <c>Owner</c>, <c>OwnerAddresses</c>, …).</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The section to bind.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    [RequiresUnreferencedCode("Binds PrivateSwarmServiceOptions from configuration by reflection; use the Action overload when trimming.")]
    [RequiresDynamicCode("Binds PrivateSwarmServiceOptions from configuration by reflection; use the Action overload for native AOT.")]
    public static IServiceCollection AddPrivateSwarm(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        string prefix = (configuration as IConfigurationSection)?.Path is { Length: > 0 } path ? path : nameof(PrivateSwarmServiceOptions);
        AddCore(services, prefix, configuration).Bind(configuration);
        return services;
    }

    /// <summary>Adds a <see cref="PrivateSwarmHealthCheck"/> (swarm key state) of the service added by <c>AddPrivateSwarm</c>.</summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="name">The check's name. Default <c>p2pnet-swarm</c>.</param>
    /// <param name="failureStatus">What "not started" or "no key" reports. Default <see cref="HealthStatus.Unhealthy"/>.</param>
    /// <param name="tags">Tags to filter checks by.</param>
    /// <returns><paramref name="builder"/>, for chaining.</returns>
    public static IHealthChecksBuilder AddPrivateSwarm(this IHealthChecksBuilder builder, string name = "p2pnet-swarm",
        HealthStatus? failureStatus = null, IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Add(new HealthCheckRegistration(name,
            sp => new PrivateSwarmHealthCheck(sp.GetRequiredService<PrivateSwarmService>()), failureStatus, tags));
    }

    private static OptionsBuilder<PrivateSwarmServiceOptions> AddCore(IServiceCollection services, string prefix, IConfiguration? configuration)
    {
        services.AddP2PNet(); // the host's hosted service must be registered, and so start, first
        for (int i = services.Count - 1; i >= 0; i--)
        {
            if (services[i].ImplementationInstance is PrivateSwarmServiceOptionsValidator)
            {
                services.RemoveAt(i);
            }
        }
        services.AddSingleton<IValidateOptions<PrivateSwarmServiceOptions>>(new PrivateSwarmServiceOptionsValidator(prefix, configuration));
        services.TryAddSingleton<PrivateSwarmService>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, PrivateSwarmService>(sp => sp.GetRequiredService<PrivateSwarmService>()));
        return services.AddOptions<PrivateSwarmServiceOptions>().ValidateOnStart();
    }
}
