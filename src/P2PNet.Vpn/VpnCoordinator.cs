using System.Diagnostics.Metrics;
using System.Net;
using Google.Protobuf;
using P2PNet.Crypto;
using Microsoft.Extensions.Logging;
using P2PNet.Host;
using P2PNet.IO;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Vpn.Internal;
using P2PNet.Vpn.Protos;

namespace P2PNet.Vpn;

/// <summary>
/// The coordinator of a VPN: owns the address pool, admits members (<see cref="StartAsync"/>, <see cref="Allow"/>,
/// <see cref="AddPeerAsync"/>), removes them (<see cref="RemovePeerAsync"/>) and pushes a signed, versioned routing table
/// to every member over <c>/p2pnet/vpn/control/1.0.0/&lt;vpn id&gt;</c>. It is a member of its own VPN too: it carries
/// packets like any other (the shared data plane of <see cref="VpnEndpoint"/>). Table distribution is in
/// <c>VpnCoordinator.Push.cs</c>.
/// </summary>
/// <remarks>Control methods are thread-safe and serialised. A host may run several coordinators, each with its own
/// <see cref="VpnEndpoint.VpnId"/>.</remarks>
public sealed partial class VpnCoordinator : VpnEndpoint, IVpn
{
    private readonly Dictionary<PeerId, IPAddress?> _allowed = [];
    private readonly Dictionary<PeerId, CoordinatedMember> _members = [];
    private AddressPool? _pool;
    private PrivateKey? _signingKey;
    private ulong _version;
    private ulong _epoch;
    private bool _started;

    /// <summary>Creates the coordinator of a VPN on <paramref name="host"/> that exchanges packets with
    /// <paramref name="device"/>; its VPN id is <see cref="VpnOptions.VpnId"/>, or a new random one. Nothing is opened
    /// until <see cref="StartAsync"/>.</summary>
    /// <param name="host">The libp2p host; it must have <see cref="P2PHostOptions.Identity"/> set (it signs tables).</param>
    /// <param name="device">The local attachment: a <see cref="Tun.TunDevice"/> or a <see cref="UserSpacePacketDevice"/>. Not disposed by this object.</param>
    /// <param name="options">Settings; defaults when null.</param>
    /// <param name="loggerFactory">Logging; none when null.</param>
    /// <param name="meterFactory">Metrics (meter <c>P2PNet.Vpn</c>); a private meter when null.</param>
    /// <param name="timeProvider">Time for the epoch, push retries and redial backoff; the system clock when null.</param>
    public VpnCoordinator(P2PHost host, IPacketDevice device, VpnOptions? options = null, ILoggerFactory? loggerFactory = null,
        IMeterFactory? meterFactory = null, TimeProvider? timeProvider = null)
        : base(host, device, options, loggerFactory, meterFactory, timeProvider)
    {
        if (VpnId is null)
        {
            SetVpnId(VpnIds.Generate());
        }
    }

    /// <inheritdoc />
    string IVpn.VpnId => VpnId!;

    private protected override bool LoopbackAllowed => true;

    /// <summary>
    /// Starts a network with this member as coordinator: takes <see cref="VpnOptions.Address"/> (or the lowest free
    /// address) for itself and assigns every initial member its requested address if free, otherwise the lowest free one.
    /// Initial members are admitted when they call <see cref="VpnMember.JoinAsync"/>; the table lists them from the start.
    /// </summary>
    /// <exception cref="InvalidOperationException">Already started or joined, the host has no configured identity, or the network is too small.</exception>
    public async Task<VpnRoutingTable> StartAsync(IEnumerable<VpnMemberRequest> initialMembers, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(initialMembers);
        await ControlLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _signingKey = Host.Options.Identity ?? throw new InvalidOperationException(
                "The coordinator signs routing tables with the host's identity key: set P2PHostOptions.Identity.");
            if (_started)
            {
                throw new InvalidOperationException("This coordinator has already started.");
            }
            RegisterHandlers(coordinator: true);
            _started = true;
            Coordinator = Host.PeerId;
            // Versions restart at 1 in every run; the run's start time orders the runs, so members take a restarted
            // coordinator's tables (docs/vpn.md, "Table versions").
            _epoch = (ulong)Math.Max(1, TimeProvider.GetUtcNow().ToUnixTimeMilliseconds());
            _pool = new AddressPool(Options.Network);
            if (Options.Address is { } own && !_pool.IsUsable(own))
            {
                throw new ArgumentException($"The coordinator's address {own} is not a host address of {Options.Network}.");
            }
            if (Options.Gateway is { } gateway && !_pool.IsUsable(gateway))
            {
                throw new ArgumentException($"The gateway's address {gateway} is not a host address of {Options.Network}.");
            }
            // The gateway's address goes only to the member that asks for it (the gateway node), never to a member that
            // asks for any address: that member would receive every packet for the Internet.
            _pool.Reserved = Options.Gateway;
            var self = _pool.Allocate(Options.Address) ?? throw new InvalidOperationException($"{Options.Network} has no free address.");
            _members[Host.PeerId] = new CoordinatedMember(self, OwnAddresses(), Joined: true);
            foreach (var request in initialMembers)
            {
                Admit(request.Peer, request.RequestedAddress);
                _allowed[request.Peer] = null;
            }
            return await PublishAsync(except: null, extra: null, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ControlLock.Release();
        }
    }

    /// <summary>Lets <paramref name="peer"/> join (coordinator): it gets <paramref name="requestedAddress"/> if free when it
    /// joins, else the address it asks for if free, else the lowest free one.</summary>
    public void Allow(PeerId peer, IPAddress? requestedAddress = null)
    {
        ArgumentNullException.ThrowIfNull(peer);
        lock (_allowed)
        {
            _allowed[peer] = requestedAddress;
        }
    }

    /// <summary>
    /// Adds <paramref name="peer"/> to the running network (coordinator): assigns <paramref name="requestedAddress"/> if
    /// free, otherwise the lowest free address, and pushes the new table to every joined member before returning.
    /// Existing members keep their addresses. Adding a member again returns its address.
    /// </summary>
    /// <exception cref="InvalidOperationException">Not the coordinator, or the network is full.</exception>
    public async Task<IPAddress> AddPeerAsync(PeerId peer, IPAddress? requestedAddress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(peer);
        await ControlLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            EnsureCoordinator();
            if (_members.TryGetValue(peer, out var existing))
            {
                return existing.Address;
            }
            var address = Admit(peer, requestedAddress);
            lock (_allowed)
            {
                _allowed.TryAdd(peer, null);
            }
            await PublishAsync(except: null, extra: null, cancellationToken).ConfigureAwait(false);
            return address;
        }
        finally
        {
            ControlLock.Release();
        }
    }

    /// <summary>Removes <paramref name="peer"/> from the network (coordinator) and its allow list; every member, the removed
    /// one included, gets the new table, so nobody routes to or accepts packets from it any more.</summary>
    /// <returns>False when it was not a member.</returns>
    public async Task<bool> RemovePeerAsync(PeerId peer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(peer);
        await ControlLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            EnsureCoordinator();
            if (peer == Host.PeerId)
            {
                throw new ArgumentException("The coordinator cannot remove itself; stop the network instead.", nameof(peer));
            }
            lock (_allowed)
            {
                _allowed.Remove(peer);
            }
            if (!_members.Remove(peer, out var member))
            {
                return false;
            }
            _pool!.Release(member.Address);
            await PublishAsync(except: null, extra: member.Joined ? peer : null, cancellationToken).ConfigureAwait(false);
            return true;
        }
        finally
        {
            ControlLock.Release();
        }
    }

    /// <summary>The coordinator answers joins; anything else on its control protocol is refused.</summary>
    private protected override async Task<ControlMessage?> AnswerControlAsync(P2PStream stream, ControlMessage message, CancellationToken cancellationToken) =>
        message.BodyCase == ControlMessage.BodyOneofCase.Join
            ? new ControlMessage { JoinResponse = await HandleJoinAsync(stream, message.Join, cancellationToken).ConfigureAwait(false) }
            : null;

    private async Task<JoinResponse> HandleJoinAsync(P2PStream stream, JoinRequest request, CancellationToken cancellationToken)
    {
        var peer = stream.RemotePeer;
        var addresses = Advertised(request, stream.Connection.RemoteAddress);
        await ControlLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Stopped)
            {
                return new JoinResponse { Accepted = false, Reason = "the network has stopped" };
            }
            if (_members.TryGetValue(peer, out var member))
            {
                if (member.Joined && _published is { } current && SameAddresses(member.Addresses, addresses))
                {
                    // A repeated join (a retry, a restarted member) changes nothing: answer with the current table and
                    // leave everyone else alone.
                    MarkDelivered(peer, current.Table);
                    VpnLog.JoinHandled(Logger, peer, $"already a member as {member.Address}; table unchanged");
                    return new JoinResponse { Accepted = true, Table = current.Signed };
                }
                _members[peer] = member with { Addresses = addresses, Joined = true };
            }
            else
            {
                IPAddress? reserved;
                bool allowed;
                lock (_allowed)
                {
                    allowed = _allowed.TryGetValue(peer, out reserved);
                }
                if (!allowed)
                {
                    VpnLog.JoinHandled(Logger, peer, "refused: not on the allow list");
                    return new JoinResponse { Accepted = false, Reason = $"peer {peer} is not on the coordinator's allow list" };
                }
                IPAddress? asked = request.RequestedIp.Length == 4 ? new IPAddress(request.RequestedIp.Span) : null;
                try
                {
                    Admit(peer, reserved ?? asked, addresses, joined: true);
                }
                catch (InvalidOperationException e)
                {
                    return new JoinResponse { Accepted = false, Reason = e.Message };
                }
            }
            // Everyone else learns of the newcomer before it learns of them, so its first dials are accepted.
            await PublishAsync(except: peer, extra: null, cancellationToken).ConfigureAwait(false);
            VpnLog.JoinHandled(Logger, peer, $"admitted as {_members[peer].Address}");
            var published = _published!;
            MarkDelivered(peer, published.Table);
            return new JoinResponse { Accepted = true, Table = published.Signed };
        }
        finally
        {
            ControlLock.Release();
        }
    }

    /// <summary>The joiner's advertised addresses that are worth dialing (<see cref="DialAddressFilter"/>).</summary>
    private static List<Multiaddr> Advertised(JoinRequest request, Multiaddr observed)
    {
        var parsed = new List<Multiaddr>();
        // Bounded work per join, whatever the joiner sends (the message itself is bounded by MaxControlMessageSize).
        foreach (var bytes in request.Addresses.Take(DialAddressFilter.MaxAddresses * 4))
        {
            try
            {
                parsed.Add(Multiaddr.FromBytes(bytes.Span));
            }
            catch (WireFormatException)
            {
            }
        }
        return DialAddressFilter.Filter(parsed, observed);
    }

    private static bool SameAddresses(List<Multiaddr> a, List<Multiaddr> b) =>
        a.Select(x => x.ToString()).SequenceEqual(b.Select(x => x.ToString()), StringComparer.Ordinal);

    /// <summary>The coordinator's own listen addresses without the never-dialable ones; loopback stays (each member keeps
    /// it only when it reaches the coordinator over loopback).</summary>
    private List<Multiaddr> OwnAddresses() => DialAddressFilter.Filter(Host.ListenAddresses, seen: null, loopbackAllowed: true);

    private IPAddress Admit(PeerId peer, IPAddress? requested, List<Multiaddr>? addresses = null, bool joined = false)
    {
        var address = _pool!.Allocate(requested) ?? throw new InvalidOperationException($"The VPN network {_pool.Network} has no free address.");
        _members[peer] = new CoordinatedMember(address, addresses ?? [], joined);
        return address;
    }

    private void EnsureCoordinator()
    {
        ObjectDisposedException.ThrowIf(Stopped, this);
        if (!_started)
        {
            throw new InvalidOperationException("Start the coordinator (StartAsync) before adding or removing members.");
        }
    }

    private sealed record CoordinatedMember(IPAddress Address, List<Multiaddr> Addresses, bool Joined);
}
