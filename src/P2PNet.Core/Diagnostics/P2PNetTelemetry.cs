using System.Diagnostics;

namespace P2PNet.Diagnostics;

/// <summary>
/// The names P2PNet's traces and metrics are published under (docs/observability.md lists every span and instrument).
/// Subscribe with OpenTelemetry's <c>AddP2PNetInstrumentation()</c>, or with an <see cref="ActivityListener"/> /
/// <see cref="System.Diagnostics.Metrics.MeterListener"/> on these names.
/// </summary>
public static class P2PNetTelemetry
{
    /// <summary>The <see cref="System.Diagnostics.ActivitySource"/> of every P2PNet span: <c>P2PNet</c>.</summary>
    public const string ActivitySourceName = "P2PNet";

    /// <summary>The host's meter (connections, streams, transport bytes): <c>P2PNet</c>.</summary>
    public const string HostMeterName = "P2PNet";

    /// <summary>The VPN's meter (package P2PNet.Vpn): <c>P2PNet.Vpn</c>.</summary>
    public const string VpnMeterName = "P2PNet.Vpn";

    /// <summary>The WebSocket-to-UDP bridge's meter (package P2PNet.Proxy): <c>P2PNet.Proxy.UdpBridge</c>.</summary>
    public const string UdpBridgeMeterName = "P2PNet.Proxy.UdpBridge";

    /// <summary>The inbound proxy's meter (package P2PNet.Proxy): <c>P2PNet.Proxy.Inbound</c>.</summary>
    public const string InboundProxyMeterName = "P2PNet.Proxy.Inbound";

    /// <summary>The outbound gateway's meter (package P2PNet.Proxy): <c>P2PNet.Proxy.Gateway</c>.</summary>
    public const string GatewayMeterName = "P2PNet.Proxy.Gateway";

    /// <summary>Every meter P2PNet's packages create.</summary>
    public static IReadOnlyList<string> MeterNames { get; } = [HostMeterName, VpnMeterName, UdpBridgeMeterName, InboundProxyMeterName, GatewayMeterName];

    /// <summary>The source of the dial, handshake, muxer and stream negotiation spans.</summary>
    internal static readonly ActivitySource Source = new(ActivitySourceName,
        typeof(P2PNetTelemetry).Assembly.GetName().Version?.ToString(3));

    /// <summary>Marks <paramref name="span"/> failed with <paramref name="error"/>; returns false, so it can sit in an
    /// exception filter (<c>catch (Exception e) when (P2PNetTelemetry.Failed(span, e))</c>) without catching anything.</summary>
    internal static bool Failed(Activity? span, Exception error)
    {
        if (span is not null)
        {
            span.SetStatus(ActivityStatusCode.Error, error.Message);
            span.SetTag("error.type", error.GetType().FullName);
        }
        return false;
    }
}
