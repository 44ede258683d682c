namespace P2PNet.Proxy.Inbound;

/// <summary>Bytes moved and data rates of one scope of an <see cref="InboundProxy"/> (a connection, an activity, a VPN,
/// or the whole proxy), as the inbound-proxy design's Status API reports them.</summary>
/// <param name="BytesReceived">Bytes received from public clients and carried towards the service.</param>
/// <param name="BytesSent">Bytes from the service sent to public clients.</param>
/// <param name="RateIn">The rate of <paramref name="BytesReceived"/>, in bytes per second.</param>
/// <param name="RateOut">The rate of <paramref name="BytesSent"/>, in bytes per second.</param>
public sealed record InboundBandwidth(long BytesReceived, long BytesSent, InboundRate RateIn, InboundRate RateOut);

/// <summary>A data rate in bytes per second.</summary>
/// <param name="Max">The highest rate seen over any window of <see cref="InboundProxyOptions.RateWindow"/>.</param>
/// <param name="Average">The bytes over the scope's whole life (since the connection opened, the gateway socket of the
/// activity was first bound, the VPN was attached, or the proxy started).</param>
/// <param name="Current">The rate over the last <see cref="InboundProxyOptions.RateWindow"/>.</param>
public sealed record InboundRate(double Max, double Average, double Current);
