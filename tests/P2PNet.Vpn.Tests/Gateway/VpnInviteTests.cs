using Google.Protobuf;
using P2PNet.IO;
using P2PNet.Vpn.Protos;

namespace P2PNet.Vpn.Tests.Gateway;

/// <summary>/p2pnet/vpn/invite/1.0.0: the happy path and hostile requests.</summary>
public class VpnInviteTests
{
    [Fact]
    public async Task Invitation_IsAnsweredOnceTheHandlerJoined_AndARefusalCarriesItsReason()
    {
        await using var cluster = await VpnCluster.CreateAsync(2);
        using var cts = new CancellationTokenSource(VpnCluster.Timeout);
        cluster.Hosts[0].PeerStore.AddAddresses(cluster.Hosts[1].PeerId, cluster.Hosts[1].ListenAddresses);
        await cluster.Coordinator.StartAsync([], cts.Token);
        bool refuse = true;
        VpnInvite.Accept(cluster.Hosts[1], async (invitation, ct) =>
        {
            if (refuse)
            {
                return "busy";
            }
            Assert.Equal(cluster.Hosts[0].PeerId, invitation.Coordinator);
            Assert.Equal("act", invitation.ActivityId);
            await cluster.Member(1).JoinAsync(invitation.CoordinatorAddresses[0].WithPeerId(invitation.Coordinator), invitation.Address, ct);
            return null;
        });
        var address = await cluster.Coordinator.AddPeerAsync(cluster.Hosts[1].PeerId, null, cts.Token);
        var declined = await Assert.ThrowsAsync<VpnJoinRejectedException>(() =>
            VpnInvite.InviteAsync(cluster.Coordinator, cluster.Hosts[1].PeerId, address, "act", cts.Token));
        Assert.Contains("busy", declined.Message, StringComparison.Ordinal);
        refuse = false;
        await VpnInvite.InviteAsync(cluster.Coordinator, cluster.Hosts[1].PeerId, address, "act", cts.Token);
        Assert.Equal(address, cluster.Vpns[1].Address);
    }

    [Fact]
    public async Task MalformedInvitations_AreRefused_WithoutCallingTheHandler()
    {
        await using var cluster = await VpnCluster.CreateAsync(2);
        using var cts = new CancellationTokenSource(VpnCluster.Timeout);
        cluster.Hosts[0].PeerStore.AddAddresses(cluster.Hosts[1].PeerId, cluster.Hosts[1].ListenAddresses);
        int calls = 0;
        VpnInvite.Accept(cluster.Hosts[1], (_, _) =>
        {
            Interlocked.Increment(ref calls);
            return Task.FromResult<string?>(null);
        });
        foreach (byte[] request in new[]
        {
            new byte[] { 0xff, 0xff, 0xff },
            new Invite { VpnId = "not-an-id" }.ToByteArray(),
            new Invite { VpnId = new string('a', 32), Ip = ByteString.CopyFrom(1, 2, 3) }.ToByteArray(),
            new Invite { VpnId = new string('a', 32), CoordinatorAddresses = { ByteString.CopyFrom(0xff, 0x01) } }.ToByteArray(),
            [],
        })
        {
            await using var stream = await cluster.Hosts[0].OpenStreamAsync(cluster.Hosts[1].PeerId, VpnInvite.ProtocolId, cts.Token);
            if (request.Length > 0)
            {
                await LengthPrefixed.WriteAsync(stream.Output, request, cts.Token);
            }
            else
            {
                await stream.CompleteWritesAsync(cts.Token); // ends before any invitation
            }
            byte[] reply = (await LengthPrefixed.ReadAsync(stream.Input, 4096, cts.Token))!;
            var response = InviteResponse.Parser.ParseFrom(reply);
            Assert.False(response.Accepted);
            Assert.Contains("malformed", response.Reason, StringComparison.Ordinal);
        }
        // An invitation larger than the limit is refused too, before it is read whole.
        await using (var oversized = await cluster.Hosts[0].OpenStreamAsync(cluster.Hosts[1].PeerId, VpnInvite.ProtocolId, cts.Token))
        {
            await LengthPrefixed.WriteAsync(oversized.Output, new byte[20_000], cts.Token);
            byte[] reply = (await LengthPrefixed.ReadAsync(oversized.Input, 4096, cts.Token))!;
            Assert.False(InviteResponse.Parser.ParseFrom(reply).Accepted);
        }
        Assert.Equal(0, calls);
    }

    [Fact]
    public async Task AStalledInviter_IsRefusedAfterTheTimeout()
    {
        await using var cluster = await VpnCluster.CreateAsync(2);
        using var cts = new CancellationTokenSource(VpnCluster.Timeout);
        cluster.Hosts[0].PeerStore.AddAddresses(cluster.Hosts[1].PeerId, cluster.Hosts[1].ListenAddresses);
        VpnInvite.Accept(cluster.Hosts[1], (_, _) => Task.FromResult<string?>(null), TimeSpan.FromMilliseconds(300));
        await using var stream = await cluster.Hosts[0].OpenStreamAsync(cluster.Hosts[1].PeerId, VpnInvite.ProtocolId, cts.Token);
        // Nothing sent: the node answers once its timeout passes.
        byte[] reply = (await LengthPrefixed.ReadAsync(stream.Input, 4096, cts.Token))!;
        var response = InviteResponse.Parser.ParseFrom(reply);
        Assert.False(response.Accepted);
        Assert.Contains("did not finish", response.Reason, StringComparison.Ordinal);
    }
}
