using System.Net;

namespace P2PNet.Proxy.Inbound.Internal;

/// <summary>The counters of one forwarded connection; the pump adds to them from its two directions at once.</summary>
internal sealed class InboundConnection(IPEndPoint client, InboundCounters totals)
{
    private long _toTarget;
    private long _fromTarget;

    public IPEndPoint Client { get; } = client;

    /// <summary>Set once the connection into the VPN is established.</summary>
    public IPEndPoint? VpnEndPoint { get; set; }

    public void AddToTarget(int bytes)
    {
        Interlocked.Add(ref _toTarget, bytes);
        totals.AddToTarget(bytes);
    }

    public void AddFromTarget(int bytes)
    {
        Interlocked.Add(ref _fromTarget, bytes);
        totals.AddFromTarget(bytes);
    }

    public InboundConnectionStatistics Snapshot() =>
        new(Client, VpnEndPoint, Interlocked.Read(ref _toTarget), Interlocked.Read(ref _fromTarget));
}
