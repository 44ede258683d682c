using System.Net;

namespace P2PNet.Proxy.Inbound.Internal;

/// <summary>The counters of one forwarded connection or UDP flow; the pump adds to them from its two directions at once.</summary>
internal sealed class InboundConnection(IPEndPoint client, InboundCounters totals, BandwidthMeter meter)
{
    public IPEndPoint Client { get; } = client;

    /// <summary>Set once the connection into the VPN is established.</summary>
    public IPEndPoint? VpnEndPoint { get; set; }

    public BandwidthMeter Meter { get; } = meter;

    public void AddToTarget(int bytes)
    {
        Meter.AddIn(bytes);
        totals.AddToTarget(bytes);
    }

    public void AddFromTarget(int bytes)
    {
        Meter.AddOut(bytes);
        totals.AddFromTarget(bytes);
    }

    public InboundConnectionStatistics Snapshot() => new(Client, VpnEndPoint, Meter.BytesIn, Meter.BytesOut);
}
