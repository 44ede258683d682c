using System.Diagnostics.Metrics;
using P2PNet.Protocols.Dht.Protos;

namespace P2PNet.Protocols.Dht.Internal;

/// <summary>The DHT's instruments, on the host's meter (<c>P2PNet</c>): per lookup, its duration, its hops (referrals
/// to the closest peer that answered) and the peers it queried, tagged with the query type.</summary>
internal sealed class DhtMetrics
{
    private readonly Histogram<double> _duration;
    private readonly Histogram<int> _hops;
    private readonly Histogram<int> _queried;

    public DhtMetrics(Meter meter)
    {
        _duration = meter.CreateHistogram<double>("p2pnet.dht.lookup.duration", "s", "Iterative DHT lookups, start to finish.");
        _hops = meter.CreateHistogram<int>("p2pnet.dht.lookup.hops", "{hop}", "Referrals from the routing table to the closest peer a lookup reached.");
        _queried = meter.CreateHistogram<int>("p2pnet.dht.lookup.queried", "{peer}", "Peers a lookup queried.");
    }

    public void LookupCompleted(PbKadMessage.Types.MessageType type, TimeSpan duration, int hops, int queried)
    {
        var tag = new KeyValuePair<string, object?>("type", type switch
        {
            PbKadMessage.Types.MessageType.FindNode => "find_node",
            PbKadMessage.Types.MessageType.GetProviders => "get_providers",
            PbKadMessage.Types.MessageType.GetValue => "get_value",
            _ => "other",
        });
        _duration.Record(duration.TotalSeconds, tag);
        _hops.Record(hops, tag);
        _queried.Record(queried, tag);
    }
}
