using Microsoft.Extensions.Diagnostics.HealthChecks;
using P2PNet.Diagnostics;
using P2PNet.Host;

// In the framework's namespace, as AddCheck is: services.AddHealthChecks().AddP2PNet() needs no extra using.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds P2PNet's health checks: <c>services.AddHealthChecks().AddP2PNet()</c>.</summary>
public static class P2PNetHealthChecksBuilderExtensions
{
    /// <summary>Adds a <see cref="P2PHostHealthCheck"/> of the registered <see cref="P2PHost"/> (listening, peer count,
    /// private network). Register the host with <c>services.AddP2PNet(…)</c>.</summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="minimumPeers">Fewer connected peers than this reports <see cref="HealthStatus.Degraded"/>. Default 0.</param>
    /// <param name="name">The check's name. Default <c>p2pnet</c>.</param>
    /// <param name="failureStatus">What "not listening" reports. Default <see cref="HealthStatus.Unhealthy"/>.</param>
    /// <param name="tags">Tags to filter checks by (e.g. <c>ready</c>).</param>
    /// <returns><paramref name="builder"/>, for chaining.</returns>
    public static IHealthChecksBuilder AddP2PNet(this IHealthChecksBuilder builder, int minimumPeers = 0, string name = "p2pnet",
        HealthStatus? failureStatus = null, IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentOutOfRangeException.ThrowIfNegative(minimumPeers);
        return builder.Add(new HealthCheckRegistration(name,
            sp => new P2PHostHealthCheck(sp.GetRequiredService<P2PHost>(), minimumPeers), failureStatus, tags));
    }
}
