using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using P2PNet.Host;
using P2PNet.Messaging;
using P2PNet.Networking;

namespace P2PNet.DependencyInjection;

/// <summary>Registers P2PNet in a service collection: <c>services.AddP2PNet(o => o.ListenAddresses.Add(…))</c>.</summary>
public static class P2PNetServiceCollectionExtensions
{
    /// <summary>
    /// Adds a singleton <see cref="P2PHost"/> configured through <see cref="IOptions{P2PHostOptions}"/>, its
    /// <see cref="IMessenger"/>, and a hosted service that starts the host with the application and stops it gracefully.
    /// Logging and metrics come from the container's <see cref="ILoggerFactory"/> and <see cref="IMeterFactory"/> when present.
    /// </summary>
    public static IServiceCollection AddP2PNet(this IServiceCollection services, Action<P2PHostOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<P2PHostOptions>();
        if (configure is not null)
        {
            services.Configure(configure);
        }
        services.TryAddSingleton(sp => new P2PHost(
            sp.GetRequiredService<IOptions<P2PHostOptions>>().Value,
            sp.GetService<ILoggerFactory>(),
            sp.GetService<IMeterFactory>()));
        services.TryAddSingleton<IMessenger>(sp => new Messenger(
            sp.GetRequiredService<P2PHost>(),
            sp.GetService<ILoggerFactory>()?.CreateLogger<Messenger>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, P2PHostService>());
        return services;
    }

    /// <summary>Adds an unconfigured <see cref="INetwork"/> (<see cref="Libp2pNetwork"/>) for applications that drive
    /// Config / Init / Stop themselves.</summary>
    public static IServiceCollection AddP2PNetNetwork(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton<INetwork>(sp => new Libp2pNetwork(sp.GetService<ILoggerFactory>(), sp.GetService<IMeterFactory>()));
        return services;
    }
}

/// <summary>Starts the registered <see cref="P2PHost"/> with the application and stops it gracefully on shutdown.</summary>
internal sealed class P2PHostService(P2PHost host, IMessenger messenger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _ = messenger; // resolved so its protocol is registered before the host listens
        return host.StartAsync(cancellationToken).AsTask();
    }

    public Task StopAsync(CancellationToken cancellationToken) => host.StopAsync(cancellationToken).AsTask();
}
