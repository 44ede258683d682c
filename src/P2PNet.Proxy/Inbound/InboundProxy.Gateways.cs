using System.Net;
using System.Net.Sockets;
using P2PNet.Peers;
using P2PNet.Proxy.Inbound.Internal;

namespace P2PNet.Proxy.Inbound;

public sealed partial class InboundProxy
{
    /// <summary>Creates a gateway socket (<c>POST /gateway-api/v1/{proto}/{addr}</c>): binds the address (replacing any
    /// probe socket there) and forwards what arrives to <see cref="InboundGatewayEntry.RemoteAddr"/> in the VPN.</summary>
    /// <returns>The bound endpoint.</returns>
    /// <exception cref="InboundProxyException">A gateway socket exists there, or the socket limit is reached
    /// (<see cref="InboundProxyError.Conflict"/>); the entry is malformed, names a VPN the proxy is not in, or a
    /// <c>RemoteAddr</c> the VPN does not give to <c>RemoteId</c> (<see cref="InboundProxyError.InvalidArgument"/>, naming
    /// the field); the address cannot be bound (<see cref="InboundProxyError.BindFailed"/>; probes that were there are gone).</exception>
    public Task<IPEndPoint> AddGatewayAsync(InboundProtocol protocol, IPEndPoint endPoint, InboundGatewayEntry entry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        ArgumentNullException.ThrowIfNull(entry);
        RequireText(entry.RequestorId, nameof(InboundGatewayEntry.RequestorId));
        RequireText(entry.ActivityId, nameof(InboundGatewayEntry.ActivityId));
        RequireText(entry.VpnId, nameof(InboundGatewayEntry.VpnId));
        if (!PeerId.TryParse(entry.RemoteId, out var remoteId))
        {
            throw new InboundProxyException(InboundProxyError.InvalidArgument, $"RemoteId '{entry.RemoteId}' is not a peer id.", nameof(InboundGatewayEntry.RemoteId));
        }
        var target = ParseEndPoint(entry.RemoteAddr, nameof(InboundGatewayEntry.RemoteAddr));
        return ChangeAsync(async () =>
        {
            var key = (protocol, endPoint);
            VpnScope vpn;
            ProbeSocket? probes;
            lock (_state)
            {
                if (_gateways.ContainsKey(key))
                {
                    throw new InboundProxyException(InboundProxyError.Conflict, $"A gateway socket is bound at {FormatSocket(protocol, endPoint)} already.", "addr");
                }
                if (!_vpns.TryGetValue(entry.VpnId, out vpn!))
                {
                    throw new InboundProxyException(InboundProxyError.InvalidArgument, $"The proxy is not a member of VPN '{entry.VpnId}'.", nameof(InboundGatewayEntry.VpnId));
                }
                _probes.TryGetValue(key, out probes);
                if (probes is null && SocketCountLocked >= _options.MaxSockets)
                {
                    throw new InboundProxyException(InboundProxyError.Conflict, $"{_options.MaxSockets} sockets are bound: the limit.", "addr");
                }
            }
            var member = vpn.Vpn.RoutingTable?.Find(remoteId);
            if (member is null)
            {
                throw new InboundProxyException(InboundProxyError.InvalidArgument, $"{remoteId} is not a member of VPN {vpn.VpnId}.", nameof(InboundGatewayEntry.RemoteId));
            }
            if (!member.Address.Equals(target.Address))
            {
                throw new InboundProxyException(InboundProxyError.InvalidArgument,
                    $"RemoteAddr {target.Address} is not {remoteId}'s address in VPN {vpn.VpnId} (it is {member.Address}).", nameof(InboundGatewayEntry.RemoteAddr));
            }
            if (probes is not null)
            {
                lock (_state)
                {
                    _probes.Remove(key);
                }
                await probes.DisposeAsync().ConfigureAwait(false);
            }
            var activity = ActivityFor(entry.ActivityId);
            BandwidthMeter[] meters = [activity.Meter, vpn.Meter];
            var logger = Microsoft.Extensions.Logging.LoggerFactoryExtensions.CreateLogger<InboundForwarder>(_loggerFactory);
            InboundForwarder? tcp = null;
            InboundUdpForwarder? udp = null;
            try
            {
                if (protocol == InboundProtocol.Tcp)
                {
                    tcp = new InboundForwarder(vpn.Stack, endPoint, target, new InboundForwarderOptions
                    {
                        MaxConnections = _options.MaxConnectionsPerSocket,
                        ConnectTimeout = _options.ConnectTimeout,
                        IdleTimeout = _options.IdleTimeout,
                    }, _loggerFactory, _time, _sources, meters);
                    await tcp.StartAsync(cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    udp = new InboundUdpForwarder(vpn.Stack, endPoint, target, _options, _sources, meters, logger, _time);
                    udp.Start();
                }
            }
            catch (SocketException e)
            {
                if (tcp is not null)
                {
                    await tcp.DisposeAsync().ConfigureAwait(false);
                }
                if (udp is not null)
                {
                    await udp.DisposeAsync().ConfigureAwait(false);
                }
                lock (_state)
                {
                    ReleaseActivityLocked(activity);
                }
                throw BindFailed(protocol, endPoint, e);
            }
            lock (_state)
            {
                _gateways.Add(key, new GatewaySocket(protocol, endPoint, entry, vpn, activity, tcp, udp));
            }
            InboundLog.GatewayBound(_logger, FormatProtocol(protocol), endPoint.ToString(), target.ToString(), vpn.VpnId, entry.ActivityId);
            return (tcp?.LocalEndPoint ?? udp!.LocalEndPoint)!;
        }, cancellationToken);
    }

    /// <summary>Every gateway socket's entry, keyed <c>proto/addr</c> (<c>GET /gateway-api/v1/</c>).</summary>
    public IReadOnlyDictionary<string, InboundGatewayEntry> GetGateways()
    {
        lock (_state)
        {
            return _gateways.Values.ToDictionary(g => FormatSocket(g.Protocol, g.EndPoint), g => g.Entry, StringComparer.Ordinal);
        }
    }

    /// <summary>A gateway socket's entry (<c>GET /gateway-api/v1/{proto}/{addr}</c>).</summary>
    /// <exception cref="InboundProxyException"><see cref="InboundProxyError.NotFound"/>: no gateway socket there.</exception>
    public InboundGatewayEntry GetGateway(InboundProtocol protocol, IPEndPoint endPoint) => FindGateway(protocol, endPoint).Entry;

    /// <summary>A gateway socket's connection counts and open connections.</summary>
    /// <exception cref="InboundProxyException"><see cref="InboundProxyError.NotFound"/>: no gateway socket there.</exception>
    public InboundForwarderStatistics GetGatewayStatistics(InboundProtocol protocol, IPEndPoint endPoint) => FindGateway(protocol, endPoint).Statistics();

    /// <summary>Unbinds a gateway socket and resets its connections (<c>DELETE /gateway-api/v1/{proto}/{addr}</c>). The
    /// activity's metrics stay (up to <see cref="InboundProxyOptions.MaxRetainedActivities"/> activities).</summary>
    /// <exception cref="InboundProxyException"><see cref="InboundProxyError.NotFound"/>: no gateway socket there.</exception>
    public Task RemoveGatewayAsync(InboundProtocol protocol, IPEndPoint endPoint, CancellationToken cancellationToken = default) =>
        ChangeAsync(async () =>
        {
            var gateway = FindGateway(protocol, endPoint);
            lock (_state)
            {
                _gateways.Remove((protocol, endPoint));
            }
            await gateway.DisposeAsync().ConfigureAwait(false);
            var statistics = gateway.Statistics();
            lock (_state)
            {
                gateway.Activity.Retired.Add(statistics);
                gateway.Vpn.Retired.Add(statistics);
                _retired.Add(statistics);
                ReleaseActivityLocked(gateway.Activity);
            }
            InboundLog.Unbound(_logger, FormatProtocol(protocol), endPoint.ToString());
            return true;
        }, cancellationToken);

    private GatewaySocket FindGateway(InboundProtocol protocol, IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        lock (_state)
        {
            return _gateways.TryGetValue((protocol, endPoint), out var gateway) ? gateway : throw SocketNotFound(protocol, endPoint, "gateway");
        }
    }

    private ActivityScope ActivityFor(string activityId)
    {
        lock (_state)
        {
            if (!_activities.TryGetValue(activityId, out var activity))
            {
                // No parent: the VPN meter each connection also counts into carries the bytes on to the total.
                activity = new ActivityScope(activityId, new BandwidthMeter(_time));
                _activities.Add(activityId, activity);
                _activitiesServed++;
                // Keep the metrics of idle activities for the runtime's last query, within a bound: the oldest go first.
                while (_activities.Count > _options.MaxRetainedActivities
                    && _activities.Values.Where(a => a.Gateways == 0).MinBy(a => a.IdleSince) is { } oldest)
                {
                    _activities.Remove(oldest.ActivityId);
                }
            }
            activity.Gateways++;
            return activity;
        }
    }

    private void ReleaseActivityLocked(ActivityScope activity)
    {
        if (--activity.Gateways == 0)
        {
            activity.IdleSince = _time.GetTimestamp();
        }
    }
}
