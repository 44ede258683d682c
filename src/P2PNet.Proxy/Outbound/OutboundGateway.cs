using System.Collections.Concurrent;
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
/// through the user-space egress — counting usage per requestor (docs/outbound-gateway.md).
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
    private bool _disposed;

    /// <summary>Creates the gateway; nothing is accepted until <see cref="Start"/>.</summary>
    public OutboundGateway(P2PHost host, OutboundGatewayOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxMemberships, 1);
        _host = host;
        _options = options;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _egress = new VpnEgress(options.Egress, timeProvider);
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

    /// <summary>The rootless mode's egress, set by the package that provides it (kept apart so the kernel mode needs none).</summary>
    internal static Func<UserSpacePacketDevice, IPAddress, int, ILoggerFactory, CancellationToken, Task<IAsyncDisposable>>? RootlessEgressFactory { get; set; }

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
                var factory = RootlessEgressFactory ?? throw new InvalidOperationException("The rootless egress is not available in this build.");
                egress = await factory((UserSpacePacketDevice)device, vpn.Address!, table.Mtu, _loggerFactory, cancellationToken).ConfigureAwait(false);
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
        }
        finally
        {
            _joins.Release();
        }
    }

    private sealed record Membership(VpnMember Vpn, IPacketDevice Device, IAsyncDisposable Egress);
}
