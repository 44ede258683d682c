using System.Diagnostics.Metrics;

namespace P2PNet.Vpn.NetStack.Internal;

/// <summary>The stack's instruments (meter <c>P2PNet.Vpn.NetStack</c>); low-cardinality tags only.</summary>
internal sealed class NetStackMetrics : IDisposable
{
    public const string MeterName = "P2PNet.Vpn.NetStack";

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Counter<long> _segmentsSent;
    private readonly Counter<long> _segmentsReceived;
    private readonly Counter<long> _retransmits;
    private readonly Counter<long> _dropped;
    private readonly Histogram<double> _rtt;
    private readonly UpDownCounter<long> _connections;
    private readonly Counter<long> _reassembly;

    public NetStackMetrics(IMeterFactory? meterFactory)
    {
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _segmentsSent = _meter.CreateCounter<long>("p2pnet.netstack.tcp.segments.sent", "{segment}", "TCP segments sent, retransmissions included.");
        _segmentsReceived = _meter.CreateCounter<long>("p2pnet.netstack.tcp.segments.received", "{segment}", "TCP segments received.");
        _retransmits = _meter.CreateCounter<long>("p2pnet.netstack.tcp.retransmits", "{segment}", "TCP segments sent again.");
        _dropped = _meter.CreateCounter<long>("p2pnet.netstack.packets.dropped", "{packet}", "Incoming packets dropped, by reason.");
        _rtt = _meter.CreateHistogram<double>("p2pnet.netstack.tcp.rtt", "ms", "TCP round-trip time samples.");
        _reassembly = _meter.CreateCounter<long>("p2pnet.netstack.ip.reassembly", "{datagram}",
            "Fragmented IPv4 datagrams by outcome: reassembled, timeout, overlap, limit.");
        _connections = _meter.CreateUpDownCounter<long>("p2pnet.netstack.tcp.connections", "{connection}", "Open TCP connections.");
    }

    public void SegmentsSent(int count) => _segmentsSent.Add(count);

    public void SegmentReceived() => _segmentsReceived.Add(1);

    public void Retransmit() => _retransmits.Add(1);

    public void Dropped(DropReason reason) =>
        _dropped.Add(1, new KeyValuePair<string, object?>("reason", ReasonName(reason)));

    public void Reassembly(string outcome) =>
        _reassembly.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    public void Rtt(double milliseconds) => _rtt.Record(milliseconds);

    public void ConnectionOpened() => _connections.Add(1);

    public void ConnectionClosed() => _connections.Add(-1);

    private static string ReasonName(DropReason reason) => reason switch
    {
        DropReason.Malformed => "malformed",
        DropReason.BadChecksum => "bad_checksum",
        DropReason.NotForUs => "not_for_us",
        DropReason.Fragment => "fragment",
        DropReason.UnsupportedVersion => "unsupported_version",
        DropReason.UnsupportedProtocol => "unsupported_protocol",
        DropReason.NoSocket => "no_socket",
        DropReason.Paws => "paws",
        DropReason.QueueFull => "queue_full",
        DropReason.SynFlood => "syn_flood",
        DropReason.TooBig => "too_big",
        DropReason.IcmpIgnored => "icmp_ignored",
        _ => "other",
    };

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
