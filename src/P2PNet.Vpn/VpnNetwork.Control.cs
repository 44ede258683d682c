using System.Net;
using Google.Protobuf;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.IO;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Vpn.Internal;
using P2PNet.Vpn.Protos;

namespace P2PNet.Vpn;

/// <summary>The control plane: the coordinator's allocation and table pushes, and the members' join and table checks.</summary>
public sealed partial class VpnNetwork
{
    private readonly Dictionary<PeerId, IPAddress?> _allowed = [];
    private readonly Dictionary<PeerId, CoordinatedMember> _members = [];
    private AddressPool? _pool;
    private PrivateKey? _signingKey;
    private ulong _version;
    private ulong _epoch;
    private bool _joined;

    /// <summary>
    /// Starts a network with this member as coordinator: takes <see cref="VpnOptions.Address"/> (or the lowest free
    /// address) for itself and assigns every initial member its requested address if free, otherwise the lowest free one.
    /// Initial members are admitted when they call <see cref="JoinAsync"/>; the table lists them from the start.
    /// </summary>
    /// <exception cref="InvalidOperationException">Already started or joined, the host has no configured identity, or the network is too small.</exception>
    public async Task<VpnRoutingTable> StartAsync(IEnumerable<VpnMemberRequest> initialMembers, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(initialMembers);
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _signingKey = Host.Options.Identity ?? throw new InvalidOperationException(
                "The coordinator signs routing tables with the host's identity key: set P2PHostOptions.Identity.");
            RegisterHandlers();
            IsCoordinator = true;
            Coordinator = Host.PeerId;
            // Versions restart at 1 in every run; the run's start time orders the runs, so members take a restarted
            // coordinator's tables (docs/vpn.md, "Table versions").
            _epoch = (ulong)Math.Max(1, TimeProvider.GetUtcNow().ToUnixTimeMilliseconds());
            _pool = new AddressPool(Options.Network);
            if (Options.Address is { } own && !_pool.IsUsable(own))
            {
                throw new ArgumentException($"The coordinator's address {own} is not a host address of {Options.Network}.");
            }
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
            _lock.Release();
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
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
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
            _lock.Release();
        }
    }

    /// <summary>Removes <paramref name="peer"/> from the network (coordinator) and its allow list; every member, the removed
    /// one included, gets the new table, so nobody routes to or accepts packets from it any more.</summary>
    /// <returns>False when it was not a member.</returns>
    public async Task<bool> RemovePeerAsync(PeerId peer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(peer);
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
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
            _lock.Release();
        }
    }

    /// <summary>
    /// Joins the network coordinated by the peer at <paramref name="coordinator"/> (a multiaddr ending in
    /// <c>/p2p/&lt;id&gt;</c>), asking for <paramref name="requestedAddress"/>. Returns once the first table is applied and
    /// the device configured; afterwards only tables signed by that coordinator, with higher versions, are accepted.
    /// A join that failed (the coordinator unreachable, or not started yet) may be called again.
    /// </summary>
    /// <exception cref="VpnJoinRejectedException">The coordinator refused (not on its allow list, or full).</exception>
    public async Task<VpnRoutingTable> JoinAsync(Multiaddr coordinator, IPAddress? requestedAddress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(coordinator);
        if (coordinator.GetPeerId() is null)
        {
            throw new ArgumentException("The coordinator's address must end in /p2p/<peer id>.", nameof(coordinator));
        }
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // A join that failed (coordinator unreachable or not started yet) may be tried again; a successful one not.
            if (!_started || IsCoordinator || _joined)
            {
                RegisterHandlers();
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
            var stream = await connection.OpenStreamAsync(ControlProtocolId, timeout.Token).ConfigureAwait(false);
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
            var table = TableCodec.Verify(reply.JoinResponse.Table, Coordinator);
            if (table.Find(Host.PeerId) is null)
            {
                throw new WireFormatException("The coordinator accepted the join but its table does not list this peer.");
            }
            await ApplyTableAsync(table, cancellationToken).ConfigureAwait(false);
            _joined = true;
            return table;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Serves one control stream: a join (coordinator) or a pushed table (member). Malformed or unexpected
    /// messages are refused (logged, stream reset); they never end the network.</summary>
    internal async Task HandleControlAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        timeout.CancelAfter(Options.ControlTimeout * 2);
        ControlMessage message;
        try
        {
            byte[]? bytes = await LengthPrefixed.ReadAsync(stream.Input, Options.MaxControlMessageSize, timeout.Token).ConfigureAwait(false);
            if (bytes is null)
            {
                return;
            }
            message = ControlCodec.Parse(bytes);
        }
        catch (WireFormatException e)
        {
            VpnLog.ControlRefused(_logger, stream.RemotePeer, e.Message);
            stream.Abort();
            return;
        }
        switch (message.BodyCase)
        {
            case ControlMessage.BodyOneofCase.Join when IsCoordinator:
                var response = await HandleJoinAsync(stream, message.Join, timeout.Token).ConfigureAwait(false);
                await LengthPrefixed.WriteAsync(stream.Output, new ControlMessage { JoinResponse = response }.ToByteArray(), timeout.Token).ConfigureAwait(false);
                await stream.CompleteWritesAsync(timeout.Token).ConfigureAwait(false);
                break;
            case ControlMessage.BodyOneofCase.Table when !IsCoordinator && stream.RemotePeer == Coordinator:
                var ack = await AcceptTableAsync(message.Table, timeout.Token).ConfigureAwait(false);
                await LengthPrefixed.WriteAsync(stream.Output, new ControlMessage { TableAck = ack }.ToByteArray(), timeout.Token).ConfigureAwait(false);
                await stream.CompleteWritesAsync(timeout.Token).ConfigureAwait(false);
                break;
            default:
                VpnLog.ControlRefused(_logger, stream.RemotePeer, $"unexpected {message.BodyCase} message on the control protocol");
                stream.Abort();
                break;
        }
    }

    /// <summary>Verifies and applies a pushed table; the answer says which table this member now holds.</summary>
    private async Task<TableAck> AcceptTableAsync(SignedRoutingTable signed, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_stopped || Coordinator is null)
            {
                return Ack(accepted: false, "this member has stopped");
            }
            VpnRoutingTable table;
            try
            {
                table = TableCodec.Verify(signed, Coordinator);
            }
            catch (WireFormatException e)
            {
                // VpnTableRejectedException included: the previous table stays.
                VpnLog.TableRejected(_logger, Coordinator, e.Message);
                return Ack(accepted: false, e.Message);
            }
            if (_table is { } current && !table.IsNewerThan(current))
            {
                VpnLog.TableRejected(_logger, Coordinator,
                    $"version {table.Epoch}.{table.Version} is not newer than {current.Epoch}.{current.Version}");
                return Ack(accepted: false, "not newer than the current table");
            }
            await ApplyTableAsync(table, cancellationToken).ConfigureAwait(false);
            return Ack(accepted: true, "");
        }
        finally
        {
            _lock.Release();
        }
    }

    private TableAck Ack(bool accepted, string reason) =>
        new() { Epoch = _table?.Epoch ?? 0, Version = _table?.Version ?? 0, Accepted = accepted, Reason = reason };

    private async Task<JoinResponse> HandleJoinAsync(P2PStream stream, JoinRequest request, CancellationToken cancellationToken)
    {
        var peer = stream.RemotePeer;
        var addresses = Advertised(request, stream.Connection.RemoteAddress);
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_stopped)
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
                    VpnLog.JoinHandled(_logger, peer, $"already a member as {member.Address}; table unchanged");
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
                    VpnLog.JoinHandled(_logger, peer, "refused: not on the allow list");
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
            VpnLog.JoinHandled(_logger, peer, $"admitted as {_members[peer].Address}");
            var published = _published!;
            MarkDelivered(peer, published.Table);
            return new JoinResponse { Accepted = true, Table = published.Signed };
        }
        finally
        {
            _lock.Release();
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
        ObjectDisposedException.ThrowIf(_stopped, this);
        if (!IsCoordinator)
        {
            throw new InvalidOperationException("Only the coordinator (the member that called StartAsync) can add or remove members.");
        }
    }

    private sealed record CoordinatedMember(IPAddress Address, List<Multiaddr> Addresses, bool Joined);
}
