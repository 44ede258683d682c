using System.Diagnostics.Metrics;
using System.Net;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using P2PNet.Host;
using P2PNet.IO;
using P2PNet.Multiformats;
using P2PNet.Vpn.Internal;
using P2PNet.Vpn.Protos;

namespace P2PNet.Vpn;

/// <summary>
/// A member of a VPN: joins the network of a <see cref="VpnCoordinator"/> (<see cref="JoinAsync"/>), accepts routing
/// tables only from that coordinator, and carries packets over the shared data plane of <see cref="VpnEndpoint"/>.
/// </summary>
/// <remarks>Control methods are thread-safe and serialised. A host may be a member of several VPNs (and coordinate
/// others) at once; each endpoint serves only its own VPN's streams.</remarks>
public sealed class VpnMember : VpnEndpoint
{
    private bool _joined;

    /// <summary>Creates a member endpoint on <paramref name="host"/> that exchanges packets with <paramref name="device"/>.
    /// Nothing is opened until <see cref="JoinAsync"/>.</summary>
    /// <param name="host">The libp2p host.</param>
    /// <param name="device">The local attachment: a <see cref="Tun.TunDevice"/> or a <see cref="UserSpacePacketDevice"/>. Not disposed by this object.</param>
    /// <param name="options">Settings (<see cref="VpnOptions.VpnId"/> names the VPN to join; the queues, timeouts and
    /// backoffs apply); defaults when null.</param>
    /// <param name="loggerFactory">Logging; none when null.</param>
    /// <param name="meterFactory">Metrics (meter <c>P2PNet.Vpn</c>); a private meter when null.</param>
    /// <param name="timeProvider">Time for redial backoff; the system clock when null.</param>
    public VpnMember(P2PHost host, IPacketDevice device, VpnOptions? options = null, ILoggerFactory? loggerFactory = null,
        IMeterFactory? meterFactory = null, TimeProvider? timeProvider = null)
        : base(host, device, options, loggerFactory, meterFactory, timeProvider)
    {
    }

    /// <summary>
    /// Joins the network coordinated by the peer at <paramref name="coordinator"/> (a multiaddr ending in
    /// <c>/p2p/&lt;id&gt;</c>), asking for <paramref name="requestedAddress"/>. Returns once the first table is applied and
    /// the device configured; afterwards only tables signed by that coordinator, with higher versions, are accepted.
    /// A join that failed (the coordinator unreachable, or not started yet) may be called again.
    /// </summary>
    /// <remarks>The join goes to <c>/p2pnet/vpn/control/1.0.0/&lt;vpn id&gt;</c> when <see cref="VpnOptions.VpnId"/> is set,
    /// else to the bare <c>/p2pnet/vpn/control/1.0.0</c>, which only a host coordinating exactly one VPN answers; the VPN
    /// id is then learnt from the table.</remarks>
    /// <exception cref="VpnJoinRejectedException">The coordinator refused (not on its allow list, or full).</exception>
    /// <exception cref="VpnTableRejectedException">The coordinator's table is inconsistent, or names another VPN than
    /// <see cref="VpnOptions.VpnId"/>.</exception>
    /// <exception cref="InvalidOperationException">Already joined, or another endpoint on this host serves the VPN id.</exception>
    public async Task<VpnRoutingTable> JoinAsync(Multiaddr coordinator, IPAddress? requestedAddress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(coordinator);
        if (coordinator.GetPeerId() is null)
        {
            throw new ArgumentException("The coordinator's address must end in /p2p/<peer id>.", nameof(coordinator));
        }
        await ControlLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // A join that failed (coordinator unreachable or not started yet) may be tried again; a successful one not.
            ObjectDisposedException.ThrowIf(Stopped, this);
            if (_joined)
            {
                throw new InvalidOperationException("This member has already joined a network.");
            }
            if (VpnId is not null && !HandlersRegistered)
            {
                // Before the join: the coordinator pushes to everyone else first, and they may dial us at once.
                RegisterHandlers(coordinator: false);
            }
            var connection = await Host.DialAsync(coordinator, cancellationToken).ConfigureAwait(false);
            Coordinator = connection.RemotePeer;
            var request = new JoinRequest();
            if (requestedAddress is not null)
            {
                request.RequestedIp = ByteString.CopyFrom(requestedAddress.GetAddressBytes());
            }
            foreach (var address in Host.ListenAddresses)
            {
                request.Addresses.Add(ByteString.CopyFrom(address.ToBytes()));
            }
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(Options.ControlTimeout * 2); // the coordinator first pushes the table to everyone else
            var stream = await connection.OpenStreamAsync(VpnId is null ? ControlProtocolId : ControlProtocol, timeout.Token).ConfigureAwait(false);
            ControlMessage reply;
            await using (stream.ConfigureAwait(false))
            {
                await LengthPrefixed.WriteAsync(stream.Output, new ControlMessage { Join = request }.ToByteArray(), timeout.Token).ConfigureAwait(false);
                byte[] bytes = await LengthPrefixed.ReadAsync(stream.Input, Options.MaxControlMessageSize, timeout.Token).ConfigureAwait(false)
                    ?? throw new VpnJoinRejectedException("The coordinator closed the control stream without answering.");
                reply = ControlCodec.Parse(bytes);
            }
            if (reply.BodyCase != ControlMessage.BodyOneofCase.JoinResponse)
            {
                throw new WireFormatException("The coordinator answered a join with something other than a join response.");
            }
            if (!reply.JoinResponse.Accepted)
            {
                throw new VpnJoinRejectedException($"The coordinator {Coordinator} refused the join: {reply.JoinResponse.Reason}");
            }
            var table = TableCodec.Verify(reply.JoinResponse.Table, Coordinator, VpnId);
            if (table.Find(Host.PeerId) is null)
            {
                throw new WireFormatException("The coordinator accepted the join but its table does not list this peer.");
            }
            if (!HandlersRegistered)
            {
                SetVpnId(table.VpnId);
                RegisterHandlers(coordinator: false);
            }
            await ApplyTableAsync(table, cancellationToken).ConfigureAwait(false);
            _joined = true;
            return table;
        }
        catch when (!_joined && !Stopped)
        {
            // A failed join serves nothing: the VPN id is free for another endpoint on this host, or for the retry.
            UnregisterHandlers();
            throw;
        }
        finally
        {
            ControlLock.Release();
        }
    }

    /// <summary>A member takes tables pushed by its coordinator; anything else on its control protocol is refused.</summary>
    private protected override async Task<ControlMessage?> AnswerControlAsync(P2PStream stream, ControlMessage message, CancellationToken cancellationToken) =>
        message.BodyCase == ControlMessage.BodyOneofCase.Table && Coordinator is { } coordinator && stream.RemotePeer == coordinator
            ? new ControlMessage { TableAck = await AcceptTableAsync(message.Table, cancellationToken).ConfigureAwait(false) }
            : null;

    /// <summary>Verifies and applies a pushed table; the answer says which table this member now holds.</summary>
    private async Task<TableAck> AcceptTableAsync(SignedRoutingTable signed, CancellationToken cancellationToken)
    {
        await ControlLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Stopped || Coordinator is null)
            {
                return Ack(accepted: false, "this member has stopped");
            }
            VpnRoutingTable table;
            try
            {
                table = TableCodec.Verify(signed, Coordinator, VpnId);
            }
            catch (WireFormatException e)
            {
                // VpnTableRejectedException included: the previous table stays.
                VpnLog.TableRejected(Logger, Coordinator, e.Message);
                return Ack(accepted: false, e.Message);
            }
            if (RoutingTable is { } current && !table.IsNewerThan(current))
            {
                VpnLog.TableRejected(Logger, Coordinator,
                    $"version {table.Epoch}.{table.Version} is not newer than {current.Epoch}.{current.Version}");
                return Ack(accepted: false, "not newer than the current table");
            }
            await ApplyTableAsync(table, cancellationToken).ConfigureAwait(false);
            return Ack(accepted: true, "");
        }
        finally
        {
            ControlLock.Release();
        }
    }

    private TableAck Ack(bool accepted, string reason) =>
        new() { Epoch = RoutingTable?.Epoch ?? 0, Version = RoutingTable?.Version ?? 0, Accepted = accepted, Reason = reason };
}
