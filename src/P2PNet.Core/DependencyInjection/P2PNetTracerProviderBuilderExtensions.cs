using P2PNet.Diagnostics;

// In OpenTelemetry's namespace, as its own AddXxxInstrumentation helpers are.
namespace OpenTelemetry.Trace;

/// <summary>Subscribes an OpenTelemetry tracer provider to P2PNet's spans.</summary>
public static class P2PNetTracerProviderBuilderExtensions
{
    /// <summary>Adds the <c>P2PNet</c> activity source (<see cref="P2PNetTelemetry.ActivitySourceName"/>): the dial,
    /// security handshake, muxer set-up and stream negotiation spans listed in docs/observability.md.</summary>
    /// <param name="builder">The tracer provider builder.</param>
    /// <returns><paramref name="builder"/>, for chaining.</returns>
    public static TracerProviderBuilder AddP2PNetInstrumentation(this TracerProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddSource(P2PNetTelemetry.ActivitySourceName);
    }
}
