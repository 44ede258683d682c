using System.Diagnostics.Metrics;

namespace P2PNet.Vpn.Internal;

/// <summary>The VPN's instruments under the meter <c>P2PNet.Vpn</c>: packets and bytes by direction, drops by reason.
/// No peer tag: a tag per peer id would make one time series per peer, without bound (per-peer counts are in
/// <see cref="VpnEndpoint.GetStatistics"/>).</summary>
internal sealed class VpnMetrics : IDisposable
{
    public const string MeterName = "P2PNet.Vpn";

    private readonly Meter _meter;
    private readonly Counter<long> _packets;
    private readonly Counter<long> _bytes;
    private readonly Counter<long> _drops;
    private readonly long[] _dropCounts = new long[Enum.GetValues<VpnDropReason>().Length];

    public VpnMetrics(IMeterFactory? meterFactory)
    {
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _packets = _meter.CreateCounter<long>("p2pnet.vpn.packets.relayed", "{packet}", "IP packets carried, by direction (sent, received).");
        _bytes = _meter.CreateCounter<long>("p2pnet.vpn.bytes.relayed", "By", "IP bytes carried, by direction (sent, received).");
        _drops = _meter.CreateCounter<long>("p2pnet.vpn.packets.dropped", "{packet}", "IP packets dropped, by reason.");
    }

    public void Sent(long packets, long bytes)
    {
        if (_packets.Enabled)
        {
            var d = new KeyValuePair<string, object?>("direction", "sent");
            _packets.Add(packets, d);
            _bytes.Add(bytes, d);
        }
    }

    public void Received(long packets, long bytes)
    {
        if (_packets.Enabled)
        {
            var d = new KeyValuePair<string, object?>("direction", "received");
            _packets.Add(packets, d);
            _bytes.Add(bytes, d);
        }
    }

    public void Dropped(VpnDropReason reason)
    {
        Interlocked.Increment(ref _dropCounts[(int)reason]);
        if (_drops.Enabled)
        {
            _drops.Add(1, new KeyValuePair<string, object?>("reason", reason switch
            {
                VpnDropReason.Spoofed => "spoofed",
                VpnDropReason.Unroutable => "unroutable",
                VpnDropReason.QueueFull => "queue_full",
                VpnDropReason.EgressRefused => "egress_refused",
                _ => "malformed",
            }));
        }
    }

    public Dictionary<VpnDropReason, long> DropSnapshot() =>
        Enum.GetValues<VpnDropReason>().ToDictionary(r => r, r => Interlocked.Read(ref _dropCounts[(int)r]));

    public void Dispose() => _meter.Dispose();
}
