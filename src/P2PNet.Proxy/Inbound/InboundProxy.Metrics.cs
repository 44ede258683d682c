using System.Diagnostics.Metrics;
using P2PNet.Proxy.Inbound.Internal;

namespace P2PNet.Proxy.Inbound;

public sealed partial class InboundProxy
{
    /// <summary>The proxy's health (<c>GET /status-api/v1/status</c>).</summary>
    public InboundProxyStatus GetStatus()
    {
        double uptime = _time.GetElapsedTime(_started).TotalSeconds;
        lock (_state)
        {
            return new InboundProxyStatus(_probes.Count, _gateways.Count, _activitiesServed, Math.Round(uptime, 3),
                [.. _vpns.Values.Select(v => new InboundVpnInfo(v.VpnId, v.Stack.Address.ToString()))]);
        }
    }

    /// <summary>The whole proxy's metrics (<c>GET /status-api/v1/metrics</c>).</summary>
    public InboundMetrics GetMetrics()
    {
        lock (_state)
        {
            return MetricsLocked(_total, _retired, _gateways.Values);
        }
    }

    /// <summary>An activity's metrics (<c>GET /status-api/v1/metrics/activity/{id}</c>).</summary>
    /// <exception cref="InboundProxyException"><see cref="InboundProxyError.NotFound"/>: no gateway socket was created
    /// for the activity, or its metrics were dropped (<see cref="InboundProxyOptions.MaxRetainedActivities"/>).</exception>
    public InboundMetrics GetActivityMetrics(string activityId)
    {
        lock (_state)
        {
            return _activities.TryGetValue(activityId, out var activity)
                ? MetricsLocked(activity.Meter, activity.Retired, _gateways.Values.Where(g => g.Activity == activity))
                : throw new InboundProxyException(InboundProxyError.NotFound, $"No activity '{activityId}'.", "activity_id");
        }
    }

    /// <summary>A VPN's metrics (<c>GET /status-api/v1/metrics/vpn/{id}</c>).</summary>
    /// <exception cref="InboundProxyException"><see cref="InboundProxyError.NotFound"/>: the proxy is not in that VPN.</exception>
    public InboundMetrics GetVpnMetrics(string vpnId)
    {
        lock (_state)
        {
            return _vpns.TryGetValue(vpnId, out var vpn)
                ? MetricsLocked(vpn.Meter, vpn.Retired, _gateways.Values.Where(g => g.Vpn == vpn))
                : throw new InboundProxyException(InboundProxyError.NotFound, $"The proxy is not a member of VPN '{vpnId}'.", "vpn_id");
        }
    }

    private static InboundMetrics MetricsLocked(BandwidthMeter meter, RetiredCounts retired, IEnumerable<GatewaySocket> gateways)
    {
        long active = 0, accepted = retired.Accepted, refused = retired.Refused, failed = retired.Failed, rateLimited = retired.RateLimited;
        var open = new List<InboundConnectionMetrics>();
        foreach (var gateway in gateways)
        {
            var statistics = gateway.Statistics();
            active += statistics.ActiveConnections;
            accepted += statistics.AcceptedConnections;
            refused += statistics.RefusedConnections;
            failed += statistics.FailedConnections;
            rateLimited += statistics.RateLimitedConnections;
            string name = gateway.EndPoint.ToString();
            string protocol = FormatProtocol(gateway.Protocol);
            open.AddRange(gateway.OpenConnections.Select(c => new InboundConnectionMetrics(protocol, name, c.Client.ToString(), c.Meter.Snapshot())));
        }
        return new InboundMetrics(meter.Snapshot(), new InboundConnectionCounts(active, accepted, refused, failed, rateLimited), open);
    }

    /// <summary>The sampler's tick: rates of every meter, and the per-source table's pruning.</summary>
    private void Sample()
    {
        List<BandwidthMeter> meters = [_total];
        lock (_state)
        {
            meters.AddRange(_vpns.Values.Select(v => v.Meter));
            meters.AddRange(_activities.Values.Select(a => a.Meter));
            foreach (var gateway in _gateways.Values)
            {
                meters.AddRange(gateway.OpenConnections.Select(c => c.Meter));
            }
        }
        foreach (var meter in meters)
        {
            meter.Sample();
        }
        _sources.Prune();
    }

    /// <summary>The figures of the Status API as instruments (low-cardinality tags: direction, VPN id, outcome; activity ids
    /// are not tags — there can be thousands — and stay in the API).</summary>
    private void CreateInstruments()
    {
        _meter.CreateObservableCounter("p2pnet.inbound.bytes", () =>
        {
            lock (_state)
            {
                return _vpns.Values.SelectMany(v => new[]
                {
                    new Measurement<long>(v.Meter.BytesIn, new("direction", "in"), new("vpn.id", v.VpnId)),
                    new Measurement<long>(v.Meter.BytesOut, new("direction", "out"), new("vpn.id", v.VpnId)),
                }).ToArray();
            }
        }, "By", "Bytes carried: in = from public clients towards services, out = back.");
        _meter.CreateObservableGauge("p2pnet.inbound.rate", () =>
        {
            var bandwidth = _total.Snapshot();
            return new[]
            {
                new Measurement<double>(bandwidth.RateIn.Current, new("direction", "in"), new("statistic", "current")),
                new Measurement<double>(bandwidth.RateIn.Max, new("direction", "in"), new("statistic", "max")),
                new Measurement<double>(bandwidth.RateIn.Average, new("direction", "in"), new("statistic", "average")),
                new Measurement<double>(bandwidth.RateOut.Current, new("direction", "out"), new("statistic", "current")),
                new Measurement<double>(bandwidth.RateOut.Max, new("direction", "out"), new("statistic", "max")),
                new Measurement<double>(bandwidth.RateOut.Average, new("direction", "out"), new("statistic", "average")),
            };
        }, "By/s", "Data rates over all gateway sockets.");
        _meter.CreateObservableCounter("p2pnet.inbound.connections", () =>
        {
            var counts = GetMetrics().Connections;
            return new[]
            {
                new Measurement<long>(counts.Accepted, new KeyValuePair<string, object?>("outcome", "accepted")),
                new Measurement<long>(counts.Refused, new KeyValuePair<string, object?>("outcome", "refused")),
                new Measurement<long>(counts.Failed, new KeyValuePair<string, object?>("outcome", "failed")),
                new Measurement<long>(counts.RateLimited, new KeyValuePair<string, object?>("outcome", "rate_limited")),
            };
        }, "{connection}", "Public connections and UDP flows, by outcome.");
        _meter.CreateObservableUpDownCounter("p2pnet.inbound.connections.active", () => GetMetrics().Connections.Active,
            "{connection}", "Public connections and UDP flows open now.");
        _meter.CreateObservableUpDownCounter("p2pnet.inbound.sockets", () =>
        {
            var status = GetStatus();
            return new[]
            {
                new Measurement<int>(status.ProbeSockets, new KeyValuePair<string, object?>("kind", "probe")),
                new Measurement<int>(status.GatewaySockets, new KeyValuePair<string, object?>("kind", "gateway")),
            };
        }, "{socket}", "Probe and gateway sockets bound now.");
    }
}
