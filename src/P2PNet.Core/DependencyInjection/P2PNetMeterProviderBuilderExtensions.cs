using P2PNet.Diagnostics;

// In OpenTelemetry's namespace, as its own AddXxxInstrumentation helpers are.
namespace OpenTelemetry.Metrics;

/// <summary>Subscribes an OpenTelemetry meter provider to P2PNet's instruments.</summary>
public static class P2PNetMeterProviderBuilderExtensions
{
    /// <summary>Adds every P2PNet meter (<see cref="P2PNetTelemetry.MeterNames"/>: the host's, the VPN's, the UDP
    /// bridge's and the inbound proxy's); docs/observability.md lists their instruments.</summary>
    /// <param name="builder">The meter provider builder.</param>
    /// <returns><paramref name="builder"/>, for chaining.</returns>
    public static MeterProviderBuilder AddP2PNetInstrumentation(this MeterProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddMeter([.. P2PNetTelemetry.MeterNames]);
    }
}
