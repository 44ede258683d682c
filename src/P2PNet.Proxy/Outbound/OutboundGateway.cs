using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Host;
using P2PNet.Proxy.Outbound.Internal;
using P2PNet.Vpn;
using P2PNet.Vpn.Gateway;
using P2PNet.Vpn.Tun;

namespace P2PNet.Proxy.Outbound;

/// <summary>
/// An outbound gateway node: accepts invitations (<see cref="VpnInvite"/>) from allowed requestors, joins their VPN at
/// the address they give (the table's gateway address), and lets members' traffic out to the Internet under its
/// <see cref="OutboundGatewayOptions.Egress"/> policy — through a TUN with kernel forwarding and masquerade, or rootless
/// through the user-space egress (<see cref="RootlessEgress"/>) — counting usage per requestor (docs/outbound-gateway.md).
/// </summary>
/// <remarks>Thread-safe. <see cref="DisposeAsync"/> leaves every VPN and removes the kernel rules.</remarks>
public sealed class OutboundGateway : IAsyncDisposable
{
    private readonly P2PHost _host;
    private readonly OutboundGatewayOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly VpnEgress _egress;
    private readonly ConcurrentDictionary<string, Membership> _memberships = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _joins = new(1, 1);
    private readonly Meter _meter;
    private bool _disposed;

    /// <summary>Creates the gateway; nothing is accepted until <see cref="Start"/>.</summary>
    /// <param name="host">The started host.</param>
    /// <param name="options">Mode, requestors, policy.</param>
    /// <param name="loggerFactory">Where logs go.</param>
    /// <param name="timeProvider">Clock for usage durations and rates.</param>
    /// <param name="meterFactory">Creates the <c>P2PNet.Proxy.Gateway</c> meter (usage per requestor, refusals).</param>
    public OutboundGateway(P2PHost host, OutboundGatewayOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null,
        IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxMemberships, 1);
        _host = host;
        _options = options;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _egress = new VpnEgress(options.Egress, timeProvider);
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _meter.CreateObservableCounter("p2pnet.gateway.bytes", () => GetUsage().SelectMany(u => new[]
        {
            new Measurement<long>(u.BytesIn, new("direction", "in"), new("requestor", u.Requestor.ToString())),
            new Measurement<long>(u.BytesOut, new("direction", "out"), new("requestor", u.Requestor.ToString())),
        }), "By", "Bytes through the gateway per requestor (golem.usage.network.in/out).");
        _meter.CreateObservableGauge("p2pnet.gateway.duration", () => GetUsage().Select(u =>
            new Measurement<double>(u.DurationSeconds, new KeyValuePair<string, object?>("requestor", u.Requestor.ToString()))),
            "s", "Seconds since each requestor's first packet (golem.usage.duration_sec).");
        _meter.CreateObservableCounter("p2pnet.gateway.refused", () => new[]
        {
            new Measurement<long>(_egress.RefusedRequestor, new KeyValuePair<string, object?>("reason", "requestor")),
            new Measurement<long>(_egress.RefusedDestination, new KeyValuePair<string, object?>("reason", "destination")),
            new Measurement<long>(_egress.RefusedRate, new KeyValuePair<string, object?>("reason", "rate")),
        }, "{packet}", "Packets the egress policy dropped.");
    }

    /// <summary>The meter the gateway reports on: <c>P2PNet.Proxy.Gateway</c>.</summary>
    public const string MeterName = Diagnostics.P2PNetTelemetry.GatewayMeterName;

    /// <summary>The gateway's status as one JSON object: memberships, usage per requestor in the design's usage vector,
    /// refusals (what <c>p2pnet gateway serve --api</c> answers at <c>GET /status</c>).</summary>
    public byte[] GetStatusJson()
    {
        using var stream = new MemoryStream();
        using (var json = new System.Text.Json.Utf8JsonWriter(stream))
        {
            json.WriteStartObject();
            json.WriteStartArray(nameof(Memberships));
            foreach (var (vpnId, address) in Memberships)
            {
                json.WriteStartObject();
                json.WriteString("VpnId", vpnId);
                json.WriteString("Address", address?.ToString());
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteStartArray("Usage");
            foreach (var usage in GetUsage())
            {
                json.WriteStartObject();
                json.WriteString("Requestor", usage.Requestor.ToString());
                var values = usage.ToUsageVector();
                for (int i = 0; i < values.Count; i++)
                {
                    json.WriteNumber(VpnEgressUsage.UsageVector[i], values[i]);
                }
                json.WriteNumber("PacketsRefused", usage.PacketsRefused);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteStartObject("Refused");
            json.WriteNumber("Requestor", _egress.RefusedRequestor);
            json.WriteNumber("Destination", _egress.RefusedDestination);
            json.WriteNumber("Rate", _egress.RefusedRate);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        return stream.ToArray();
    }

    /// <summary>The egress control shared by every VPN this node serves (its usage and refusal counts).</summary>
    public VpnEgress Egress => _egress;

    /// <summary>The VPNs served now: id and this node's address in each.</summary>
    public IReadOnlyDictionary<string, IPAddress?> Memberships => _memberships.ToDictionary(m => m.Key, m => m.Value.Vpn.Address);

    /// <summary>Usage per requestor (<see cref="VpnEgressUsage.ToUsageVector"/>).</summary>
    public IReadOnlyList<VpnEgressUsage> GetUsage() => _egress.GetUsage();

    /// <summary>Starts answering invitations on the host.</summary>
    public void Start()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        VpnInvite.Accept(_host, AcceptAsync);
    }

    private async Task<string?> AcceptAsync(VpnInvitation invitation, CancellationToken cancellationToken)
    {
        if (!_options.Egress.AllowedRequestors.Contains(invitation.Coordinator))
        {
            return "this gateway does not serve you";
        }
        await _joins.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_disposed)
            {
                return "the gateway is stopping";
            }
            if (_memberships.ContainsKey(invitation.VpnId))
            {
                return null; // joined already: the requestor retried
            }
            if (_memberships.Count >= _options.MaxMemberships)
            {
                return $"the gateway serves {_options.MaxMemberships} VPNs already";
            }
            foreach (var address in invitation.CoordinatorAddresses)
            {
                _host.PeerStore.AddAddresses(invitation.Coordinator, [address]);
            }
            var membership = await JoinAsync(invitation, cancellationToken).ConfigureAwait(false);
            _memberships[invitation.VpnId] = membership;
            return null;
        }
        finally
        {
            _joins.Release();
        }
    }

    private async Task<Membership> JoinAsync(VpnInvitation invitation, CancellationToken cancellationToken)
    {
        IPacketDevice device = _options.Rootless ? new UserSpacePacketDevice() : TunDevice.Create(_options.TunName);
        var vpn = new VpnMember(_host, device, new VpnOptions { VpnId = invitation.VpnId }, _loggerFactory) { Egress = _egress };
        IAsyncDisposable? egress = null;
        try
        {
            var table = await vpn.JoinAsync(CoordinatorAddress(invitation), invitation.Address, cancellationToken).ConfigureAwait(false);
            if (_options.Rootless)
            {
                var rootless = new RootlessEgress(((UserSpacePacketDevice)device).ApplicationEnd,
                    new RootlessEgressOptions { Mtu = table.Mtu, LocalAddress = vpn.Address }, _loggerFactory);
                egress = rootless;
                await rootless.StartAsync(cancellationToken).ConfigureAwait(false);
            }
            else
            {
                egress = await KernelEgress.StartAsync(invitation.VpnId, table.Network, ((TunDevice)device).Name, cancellationToken).ConfigureAwait(false);
            }
            return new Membership(vpn, device, egress);
        }
        catch
        {
            if (egress is not null)
            {
                await egress.DisposeAsync().ConfigureAwait(false);
            }
            await vpn.DisposeAsync().ConfigureAwait(false);
            await device.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static Multiformats.Multiaddr CoordinatorAddress(VpnInvitation invitation)
    {
        // The peer store has its addresses now; the join dials the coordinator by peer id through any of them.
        var first = invitation.CoordinatorAddresses.Count > 0 ? invitation.CoordinatorAddresses[0]
            : throw new InvalidOperationException("The invitation names no coordinator address.");
        return first.GetPeerId() is null ? first.WithPeerId(invitation.Coordinator) : first;
    }

    /// <summary>Leaves every VPN, removes the kernel rules, stops answering invitations.</summary>
    public async ValueTask DisposeAsync()
    {
        await _joins.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            _host.RemoveStreamHandler(VpnInvite.ProtocolId);
            foreach (var membership in _memberships.Values)
            {
                await membership.Egress.DisposeAsync().ConfigureAwait(false);
                await membership.Vpn.DisposeAsync().ConfigureAwait(false);
                await membership.Device.DisposeAsync().ConfigureAwait(false);
            }
            _memberships.Clear();
            _meter.Dispose();
        }
        finally
        {
            _joins.Release();
        }
    }

    private sealed record Membership(VpnMember Vpn, IPacketDevice Device, IAsyncDisposable Egress);
}
