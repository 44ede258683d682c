using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using P2PNet.Host;
using P2PNet.Hosting;
using P2PNet.Protocols.Dht;

// In the framework's namespace, as AddP2PNet is.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers a Kademlia DHT beside the host that <c>AddP2PNet</c> registers:
/// <c>services.AddP2PNet(…).AddKadDht(o => o.Mode = KadDhtMode.Auto)</c>.</summary>
public static class KadDhtServiceCollectionExtensions
{
    /// <summary>
    /// Adds a singleton <see cref="KadDht"/> on the registered <see cref="P2PHost"/>, configured through
    /// <see cref="IOptions{KadDhtOptions}"/>, and a hosted service that starts it with the application (it then serves
    /// per <see cref="KadDhtOptions.Mode"/> and is the host's <see cref="P2PHost.PeerRouting"/>), bootstraps it once the
    /// first peer serving the DHT is identified (the host's <c>BootstrapPeers</c> are dialled by the host itself), and
    /// disposes it on shutdown, before the host stops. Call <c>AddP2PNet</c> too.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Changes to the defaults of <see cref="KadDhtOptions"/>; may be <see langword="null"/>.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    public static IServiceCollection AddKadDht(this IServiceCollection services, Action<KadDhtOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<KadDhtOptions>();
        if (configure is not null)
        {
            services.Configure(configure);
        }
        services.TryAddSingleton(sp => new KadDht(
            sp.GetRequiredService<P2PHost>(),
            sp.GetRequiredService<IOptions<KadDhtOptions>>().Value,
            sp.GetService<ILoggerFactory>()?.CreateLogger<KadDht>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, KadDhtService>());
        return services;
    }
}
