using System.Net;
using Google.Protobuf;
using P2PNet.Host;
using P2PNet.IO;
using P2PNet.Peers;
using P2PNet.Vpn.Internal;
using P2PNet.Vpn.Protos;

namespace P2PNet.Vpn;

/// <summary>
/// <c>/p2pnet/vpn/invite/1.0.0</c>: a coordinator invites a peer into its VPN (the net-api adding a node, for instance
/// the outbound gateway), and the peer answers once it has joined or refused. One varint-length-prefixed
/// <c>Invite</c>, one <c>InviteResponse</c> (docs/outbound-gateway.md).
/// </summary>
public static class VpnInvite
{
    /// <summary>The protocol id.</summary>
    public const string ProtocolId = "/p2pnet/vpn/invite/1.0.0";

    /// <summary>The largest invitation or response read.</summary>
    private const int MaxMessageSize = 16 * 1024;

    /// <summary>Invites <paramref name="peer"/> into the coordinator's VPN and waits for it to have joined (the
    /// coordinator must have admitted it first: <see cref="VpnCoordinator.AddPeerAsync"/>).</summary>
    /// <param name="coordinator">The started coordinator.</param>
    /// <param name="peer">The peer to invite (dialed with the addresses the peer store holds).</param>
    /// <param name="address">The address it is to ask for (the one it was admitted with), or null.</param>
    /// <param name="activityId">The activity, passed on to the peer's handler.</param>
    /// <param name="cancellationToken">Cancels the invitation.</param>
    /// <exception cref="VpnJoinRejectedException">The peer refused (its reason in the message).</exception>
    /// <exception cref="WireFormatException">The peer answered something malformed.</exception>
    public static async Task InviteAsync(VpnCoordinator coordinator, PeerId peer, IPAddress? address, string? activityId,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(coordinator);
        ArgumentNullException.ThrowIfNull(peer);
        var invite = new Invite
        {
            VpnId = coordinator.VpnId ?? throw new InvalidOperationException("Start the coordinator before inviting."),
            Ip = address is null ? ByteString.Empty : ByteString.CopyFrom(address.GetAddressBytes()),
            ActivityId = activityId ?? "",
        };
        foreach (var listen in coordinator.Host.ListenAddresses)
        {
            invite.CoordinatorAddresses.Add(ByteString.CopyFrom(listen.ToBytes()));
        }
        var stream = await coordinator.Host.OpenStreamAsync(peer, [ProtocolId], cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            await LengthPrefixed.WriteAsync(stream.Output, invite.ToByteArray(), cancellationToken).ConfigureAwait(false);
            byte[] reply = await LengthPrefixed.ReadAsync(stream.Input, MaxMessageSize, cancellationToken).ConfigureAwait(false)
                ?? throw new WireFormatException("The invited peer closed the stream without answering.");
            InviteResponse response;
            try
            {
                response = InviteResponse.Parser.ParseFrom(reply);
            }
            catch (InvalidProtocolBufferException e)
            {
                throw new WireFormatException("The invited peer's answer is malformed.", e);
            }
            if (!response.Accepted)
            {
                throw new VpnJoinRejectedException($"{peer} declined the invitation: {response.Reason}");
            }
        }
    }

    /// <summary>Answers invitations on <paramref name="host"/> with <paramref name="handler"/>, which joins (and
    /// returns null) or returns the reason it refuses. Remove with <see cref="P2PHost.RemoveStreamHandler"/>(<see cref="ProtocolId"/>).</summary>
    /// <param name="host">The host to answer on.</param>
    /// <param name="handler">Decides and joins; exceptions it throws become refusals with their message.</param>
    /// <param name="timeout">How long a join may take before the invitation is refused (default 60 s).</param>
    public static void Accept(P2PHost host, Func<VpnInvitation, CancellationToken, Task<string?>> handler, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(handler);
        TimeSpan limit = timeout ?? TimeSpan.FromSeconds(60);
        host.SetStreamHandler(ProtocolId, async (stream, ct) =>
        {
            await using (stream.ConfigureAwait(false))
            {
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
                deadline.CancelAfter(limit);
                string? refusal;
                try
                {
                    byte[] request = await LengthPrefixed.ReadAsync(stream.Input, MaxMessageSize, deadline.Token).ConfigureAwait(false)
                        ?? throw new WireFormatException("The stream ended before the invitation.");
                    var invitation = Parse(stream.RemotePeer, request);
                    refusal = await handler(invitation, deadline.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is WireFormatException or InvalidProtocolBufferException)
                {
                    refusal = "malformed invitation: " + e.Message;
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    refusal = $"the join did not finish within {limit.TotalSeconds:0} s";
                }
#pragma warning disable CA1031 // the handler's failure is the peer's refusal reason, not this host's crash
                catch (Exception e) when (e is not OperationCanceledException)
#pragma warning restore CA1031
                {
                    refusal = e.Message;
                }
                var response = new InviteResponse { Accepted = refusal is null, Reason = refusal ?? "" };
                await LengthPrefixed.WriteAsync(stream.Output, response.ToByteArray(), ct).ConfigureAwait(false);
                await stream.CompleteWritesAsync(ct).ConfigureAwait(false);
            }
        });
    }

    private static VpnInvitation Parse(PeerId from, byte[] request)
    {
        var invite = Invite.Parser.ParseFrom(request);
        if (!VpnIds.IsValid(invite.VpnId))
        {
            throw new WireFormatException($"'{invite.VpnId}' is not a VPN id.");
        }
        if (invite.Ip.Length is not (0 or 4) || invite.CoordinatorAddresses.Count > 32)
        {
            throw new WireFormatException("The invitation's address or address list is malformed.");
        }
        var addresses = new List<Multiformats.Multiaddr>();
        foreach (var bytes in invite.CoordinatorAddresses)
        {
            try
            {
                addresses.Add(Multiformats.Multiaddr.FromBytes(bytes.Span));
            }
            catch (Exception e) when (e is FormatException or ArgumentException or NotSupportedException)
            {
                throw new WireFormatException("A coordinator address is malformed.", e);
            }
        }
        return new VpnInvitation(from, invite.VpnId, addresses, invite.Ip.Length == 4 ? new IPAddress(invite.Ip.Span) : null,
            invite.ActivityId.Length == 0 ? null : invite.ActivityId);
    }
}
