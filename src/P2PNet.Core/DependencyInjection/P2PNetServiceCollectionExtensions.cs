using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using P2PNet.Host;
using P2PNet.Hosting;
using P2PNet.Messaging;
using P2PNet.Networking;

// In the framework's namespace, as AddLogging and AddOptions are: AddP2PNet shows up without an extra using.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers P2PNet in a service collection: <c>services.AddP2PNet(configuration.GetSection("P2PNet"))</c> or
/// <c>services.AddP2PNet(o => o.ListenAddresses.Add(…))</c>.</summary>
public static class P2PNetServiceCollectionExtensions
{
    /// <summary>
    /// Adds a singleton <see cref="P2PHost"/> configured through <see cref="IOptions{P2PHostOptions}"/>, its
    /// <see cref="IMessenger"/>, and a hosted service that starts the host with the application and stops it gracefully.
    /// The options are validated when the application starts; <see cref="P2PHostOptions.IdentityKeyFile"/> and
    /// <see cref="P2PHostOptions.PrivateNetworkKeyFile"/> are read then. Logging and metrics come from the container's
    /// <see cref="ILoggerFactory"/> and <see cref="IMeterFactory"/> when present.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Changes to the defaults of <see cref="P2PHostOptions"/>; may be <see langword="null"/>.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    public static IServiceCollection AddP2PNet(this IServiceCollection services, Action<P2PHostOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        AddCore(services, null, null);
        if (configure is not null)
        {
            services.Configure(configure);
        }
        return services;
    }

    /// <summary>
    /// Adds P2PNet as <see cref="AddP2PNet(IServiceCollection, Action{P2PHostOptions})"/> does, with the options bound from
    /// <paramref name="configuration"/> (e.g. the <c>P2PNet</c> section of <c>appsettings.json</c>): <c>IdentityKeyFile</c>,
    /// <c>ListenAddresses</c> and <c>BootstrapPeers</c> (multiaddr strings), <c>PrivateNetworkKeyFile</c>,
    /// <c>Mdns:Enabled</c>, the limits and the nested <c>Yamux</c>, <c>Tcp</c>, … sections. Validation failures name the
    /// configuration key (<c>P2PNet:MaxConnections: …</c>).
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The section to bind.</param>
    /// <param name="configure">Further changes applied after binding; may be <see langword="null"/>.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <remarks>Binding walks the options by reflection (the source-generated binder cannot convert multiaddrs and peer
    /// ids through their type converters), so trimmed and native-AOT applications use the <c>Action</c> overload.</remarks>
    [RequiresUnreferencedCode("Binds P2PHostOptions from configuration by reflection; use the Action<P2PHostOptions> overload when trimming.")]
    [RequiresDynamicCode("Binds P2PHostOptions from configuration by reflection; use the Action<P2PHostOptions> overload for native AOT.")]
    public static IServiceCollection AddP2PNet(this IServiceCollection services, IConfiguration configuration, Action<P2PHostOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        AddCore(services, (configuration as IConfigurationSection)?.Path ?? "", configuration);
        services.AddOptions<P2PHostOptions>().Bind(configuration);
        if (configure is not null)
        {
            services.Configure(configure);
        }
        return services;
    }

    /// <summary>Adds an unconfigured <see cref="INetwork"/> (<see cref="Libp2pNetwork"/>) for applications that drive
    /// Config / Init / Stop themselves.</summary>
    /// <param name="services">The service collection.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    public static IServiceCollection AddP2PNetNetwork(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton<INetwork>(sp => new Libp2pNetwork(sp.GetService<ILoggerFactory>(), sp.GetService<IMeterFactory>()));
        return services;
    }

    private static void AddCore(IServiceCollection services, string? sectionPath, IConfiguration? configuration)
    {
        services.AddOptions<P2PHostOptions>().ValidateOnStart();
        // The key prefix of messages: the bound section's path, else the options type. A later AddP2PNet(section)
        // replaces the prefix an earlier AddP2PNet() (e.g. from AddPrivateSwarm) put in.
        var existing = services.FirstOrDefault(d => d.ImplementationInstance is P2PHostOptionsValidator);
        if (existing is null || sectionPath is not null)
        {
            string prefix = string.IsNullOrEmpty(sectionPath) ? nameof(P2PHostOptions) : sectionPath;
            services.RemoveAll(d => d.ImplementationInstance is P2PHostOptionsValidator or P2PHostKeyFiles);
            services.AddSingleton<IValidateOptions<P2PHostOptions>>(new P2PHostOptionsValidator(prefix, configuration));
            services.AddSingleton<IPostConfigureOptions<P2PHostOptions>>(new P2PHostKeyFiles(prefix));
        }
        services.TryAddSingleton(sp => new P2PHost(
            sp.GetRequiredService<IOptions<P2PHostOptions>>().Value,
            sp.GetService<ILoggerFactory>(),
            sp.GetService<IMeterFactory>()));
        services.TryAddSingleton<IMessenger>(sp => new Messenger(
            sp.GetRequiredService<P2PHost>(),
            sp.GetService<ILoggerFactory>()?.CreateLogger<Messenger>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, P2PHostService>());
    }

    private static void RemoveAll(this IServiceCollection services, Func<ServiceDescriptor, bool> predicate)
    {
        for (int i = services.Count - 1; i >= 0; i--)
        {
            if (predicate(services[i]))
            {
                services.RemoveAt(i);
            }
        }
    }
}
