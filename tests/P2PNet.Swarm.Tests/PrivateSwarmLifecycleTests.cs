using P2PNet.Crypto;
using P2PNet.Security.Pnet;
using P2PNet.Testing;
using Xunit.Abstractions;

namespace P2PNet.Swarm.Tests;

/// <summary>Configure, exchange, join, talk, rotate, revoke, leave and restart with an in-process swarm on 127.0.0.1.</summary>
public sealed class PrivateSwarmLifecycleTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = SwarmTestNodes.Timeout;

    [Fact]
    public async Task FiveNodeSwarm_ExchangesKeysJoinsAndPingsEveryPair()
    {
        await using var nodes = new SwarmTestNodes(output);
        var joined = new List<SwarmJoined>();
        var swarm = await TestSwarm.StartAsync(nodes, memberCount: 4, join: false);
        swarm.Owner.Changed += (_, e) => { if (e is SwarmJoined j) { lock (joined) { joined.Add(j); } } };
        foreach (var member in swarm.Members)
        {
            member.Changed += (_, e) => { if (e is SwarmJoined j) { lock (joined) { joined.Add(j); } } };
        }

        await swarm.JoinAllAsync(mesh: true);

        var key = swarm.Owner.CurrentKey;
        Assert.All(swarm.Members, m => Assert.Equal(key, m.Key));
        Assert.All(swarm.AllHosts, h => Assert.Equal(key, h.PrivateNetworkKeys.Key));
        Assert.All(swarm.AllHosts.SelectMany(h => h.Connections), c => Assert.Equal(key, c.PrivateNetworkKey));
        await swarm.AssertEveryPairConnectedAndPingsAsync();
        Assert.Equal(5, joined.Count);
        Assert.All(joined, j => Assert.Equal(key.FingerprintHex, j.KeyFingerprint));

        var status = swarm.Owner.GetStatus();
        Assert.True(status.IsPrivate);
        Assert.Equal(SwarmRole.Owner, status.Role);
        Assert.Equal(key.FingerprintHex, status.KeyFingerprint);
        Assert.Equal(swarm.MemberNodes.Select(n => n.Host.PeerId.ToString()).Order(), status.Members.Select(p => p.ToString()).Order());
        Assert.Equal(4, status.ConnectedMembers.Count);
        var memberStatus = swarm.Members[0].GetStatus();
        Assert.True(memberStatus.IsPrivate);
        Assert.Equal(swarm.OwnerNode.Host.PeerId, memberStatus.Owner);
        Assert.Equal(key.FingerprintHex, memberStatus.KeyFingerprint);
        Assert.NotEmpty(memberStatus.Bootstrap);
    }

    [Fact]
    public async Task UnauthorizedNode_IsRefusedTheKey_AndCannotConnectAfterJoin()
    {
        await using var nodes = new SwarmTestNodes(output);
        var swarm = await TestSwarm.StartAsync(nodes, memberCount: 2, join: false);
        var refused = SwarmTestNodes.NextEventAsync<SwarmKeyRequestRefused>(h => swarm.Owner.Changed += h);
        var outsiderNode = await nodes.StartAsync();
        var outsider = nodes.Own(new SwarmMember(outsiderNode.Host, outsiderNode.Identity, swarm.Membership, loggerFactory: nodes.LoggerFactory));

        var error = await Assert.ThrowsAsync<SwarmKeyExchangeException>(() => outsider.RequestKeyAsync().WaitAsync(Timeout));
        Assert.Equal(KeyExchangeStatus.Unauthorized, error.Status);
        var refusal = await refused.WaitAsync(Timeout);
        Assert.Equal(outsiderNode.Host.PeerId, refusal.Peer);
        Assert.Equal(KeyExchangeStatus.Unauthorized, refusal.Status);
        Assert.Null(outsider.Key);

        await swarm.JoinAllAsync(mesh: false);
        await outsiderNode.Host.DisconnectAsync(swarm.OwnerNode.Host.PeerId).AsTask().WaitAsync(Timeout);
        // Without the key (public) and with a key of its own, the outsider reaches no one; the swarm keeps serving.
        foreach (var target in swarm.AllHosts.Select(h => h.ListenAddresses[0]))
        {
            await SwarmTestNodes.AssertDialRefusedFastAsync(outsiderNode.Host, target);
        }
        outsiderNode.Host.SetPrivateNetworkKeys(SwarmKey.Generate());
        await SwarmTestNodes.AssertDialRefusedFastAsync(outsiderNode.Host, swarm.OwnerNode.Address);
        await SwarmTestNodes.PingAsync(swarm.MemberNodes[0].Host.GetConnections(swarm.OwnerNode.Host.PeerId)[0]);
    }

    [Fact]
    public async Task HolderOfLeakedKey_IsDisconnectedByTheOwner()
    {
        await using var nodes = new SwarmTestNodes(output);
        var swarm = await TestSwarm.StartAsync(nodes, memberCount: 1, mesh: false);
        var intruder = await nodes.StartAsync(swarm.Owner.CurrentKey);
        // The PSK handshake succeeds (the key is right); the owner closes the connection as soon as it sees who it is.
        // Depending on timing the close lands during the dial's muxer negotiation or just after it.
        try
        {
            var connection = await intruder.Host.DialAsync(swarm.OwnerNode.Address).AsTask().WaitAsync(Timeout);
            await connection.Closed.WaitAsync(SwarmTestNodes.FailFast);
        }
        catch (IOException)
        {
        }
        // The owner's side goes once its disconnect completes, which may be just after the intruder saw the close.
        await Conditions.WaitUntilAsync(() => swarm.OwnerNode.Host.GetConnections(intruder.Host.PeerId).Count == 0, Timeout,
            "the owner kept its connection to the intruder");
        Assert.Empty(swarm.OwnerNode.Host.GetConnections(intruder.Host.PeerId));
        await SwarmTestNodes.PingAsync(swarm.MemberNodes[0].Host.GetConnections(swarm.OwnerNode.Host.PeerId)[0]);
    }

    [Fact]
    public async Task Rotation_AllOnline_KeepsEveryPairConnectedThroughGrace_ThenOnlyNewKeyIsAccepted()
    {
        await using var nodes = new SwarmTestNodes(output);
        var options = new SwarmOptions { RotationGracePeriod = TimeSpan.FromSeconds(8) };
        var swarm = await TestSwarm.StartAsync(nodes, memberCount: 4, options);
        var oldKey = swarm.Owner.CurrentKey;
        var rotated = swarm.Members.Select(m => SwarmTestNodes.NextEventAsync<SwarmKeyRotated>(h => m.Changed += h)).ToArray();
        var graceEnded = swarm.Members.Select(m => SwarmTestNodes.NextEventAsync<SwarmGracePeriodEnded>(h => m.Changed += h))
            .Append(SwarmTestNodes.NextEventAsync<SwarmGracePeriodEnded>(h => swarm.Owner.Changed += h)).ToArray();

        var newKey = await swarm.Owner.RotateKeyAsync().WaitAsync(Timeout);
        var events = await Task.WhenAll(rotated).WaitAsync(Timeout);

        Assert.NotEqual(oldKey, newKey);
        Assert.All(events, e => Assert.Equal(newKey.FingerprintHex, e.NewKeyFingerprint));
        Assert.All(events, e => Assert.Equal(oldKey.FingerprintHex, e.PreviousKeyFingerprint));
        Assert.All(swarm.Members, m => Assert.Equal(newKey, m.Key));
        Assert.All(swarm.AllHosts, h =>
        {
            Assert.Equal(newKey, h.PrivateNetworkKeys.Key);
            Assert.Equal([oldKey], h.PrivateNetworkKeys.AlsoAccepted);
        });
        // Inside the grace period: every pair still connected, and both keys get in.
        await swarm.AssertEveryPairConnectedAndPingsAsync();
        var lateOld = await nodes.StartAsync(oldKey);
        var lateNew = await nodes.StartAsync(newKey);
        await SwarmTestNodes.PingAsync(await lateOld.Host.DialAsync(swarm.MemberNodes[0].Address).AsTask().WaitAsync(Timeout));
        await SwarmTestNodes.PingAsync(await lateNew.Host.DialAsync(swarm.MemberNodes[1].Address).AsTask().WaitAsync(Timeout));
        Assert.Equal(oldKey.FingerprintHex, Assert.Single(swarm.Owner.GetStatus().AcceptedKeyFingerprints));

        await Task.WhenAll(graceEnded).WaitAsync(Timeout);

        Assert.All(swarm.AllHosts, h =>
        {
            Assert.Equal(newKey, h.PrivateNetworkKeys.Key);
            Assert.Empty(h.PrivateNetworkKeys.AlsoAccepted);
        });
        Assert.Empty(swarm.Owner.GetStatus().AcceptedKeyFingerprints);
        await swarm.AssertEveryPairConnectedAndPingsAsync();
        var afterOld = await nodes.StartAsync(oldKey);
        var afterNew = await nodes.StartAsync(newKey);
        foreach (var member in swarm.MemberNodes)
        {
            await SwarmTestNodes.AssertDialRefusedFastAsync(afterOld.Host, member.Address);
            await SwarmTestNodes.PingAsync(await afterNew.Host.DialAsync(member.Address).AsTask().WaitAsync(Timeout));
        }
    }

    [Fact]
    public async Task SuccessiveRotations_BeforeAndAfterGraceEnds_AreFollowedByEveryMember()
    {
        await using var nodes = new SwarmTestNodes(output);
        var options = new SwarmOptions { RotationGracePeriod = TimeSpan.FromSeconds(6) };
        var swarm = await TestSwarm.StartAsync(nodes, memberCount: 2, options, mesh: false);

        async Task<SwarmKey> RotateAndWaitAsync()
        {
            var rotated = swarm.Members.Select(m => SwarmTestNodes.NextEventAsync<SwarmKeyRotated>(h => m.Changed += h)).ToArray();
            var key = await swarm.Owner.RotateKeyAsync().WaitAsync(Timeout);
            await Task.WhenAll(rotated).WaitAsync(Timeout);
            Assert.All(swarm.Members, m => Assert.Equal(key, m.Key));
            return key;
        }

        var first = swarm.Owner.CurrentKey;
        var second = await RotateAndWaitAsync();
        var graceEnded = SwarmTestNodes.NextEventAsync<SwarmGracePeriodEnded>(h => swarm.Owner.Changed += h);
        var third = await RotateAndWaitAsync();
        Assert.Equal(third, swarm.OwnerNode.Host.PrivateNetworkKeys.Key);
        Assert.Equal(new[] { second, first }.Select(k => k.FingerprintHex).Order(), swarm.OwnerNode.Host.PrivateNetworkKeys.AlsoAccepted.Select(k => k.FingerprintHex).Order());
        await graceEnded.WaitAsync(Timeout);
        Assert.Empty(swarm.OwnerNode.Host.PrivateNetworkKeys.AlsoAccepted);

        var fourth = await RotateAndWaitAsync();
        Assert.Equal(fourth, swarm.OwnerNode.Host.PrivateNetworkKeys.Key);
        foreach (var member in swarm.MemberNodes)
        {
            await SwarmTestNodes.PingAsync(member.Host.GetConnections(swarm.OwnerNode.Host.PeerId)[0]);
        }
    }

    [Fact]
    public async Task Revoke_ClosesTheRevokedPeer_WhichCannotFetchTheNewKeyNorConnectAfterGrace()
    {
        await using var nodes = new SwarmTestNodes(output);
        var options = new SwarmOptions { RotationGracePeriod = TimeSpan.FromSeconds(3) };
        var swarm = await TestSwarm.StartAsync(nodes, memberCount: 4, options);
        var revokedNode = swarm.MemberNodes[3];
        var revokedMember = swarm.Members[3];
        var oldKey = swarm.Owner.CurrentKey;
        var others = swarm.Members.Take(3).ToArray();
        var rotated = others.Select(m => SwarmTestNodes.NextEventAsync<SwarmKeyRotated>(h => m.Changed += h)).ToArray();
        var revokedEvent = SwarmTestNodes.NextEventAsync<SwarmPeerRevoked>(h => swarm.Owner.Changed += h);
        var graceEnded = SwarmTestNodes.NextEventAsync<SwarmGracePeriodEnded>(h => swarm.Owner.Changed += h);

        Assert.True(await swarm.Owner.RevokeAsync(revokedNode.Host.PeerId).WaitAsync(Timeout));

        Assert.Equal(revokedNode.Host.PeerId, (await revokedEvent.WaitAsync(Timeout)).Peer);
        await Task.WhenAll(rotated).WaitAsync(Timeout);
        var newKey = swarm.Owner.CurrentKey;
        Assert.NotEqual(oldKey, newKey);
        Assert.All(others, m => Assert.Equal(newKey, m.Key));
        Assert.Equal(oldKey, revokedMember.Key);
        Assert.False(swarm.Owner.IsAuthorized(revokedNode.Host.PeerId));
        Assert.DoesNotContain(revokedNode.Host.PeerId, swarm.Owner.GetStatus().Members);
        // The owner closed its connections; the members closed theirs on the notification.
        Assert.Empty(swarm.OwnerNode.Host.GetConnections(revokedNode.Host.PeerId));
        Assert.All(swarm.MemberNodes.Take(3), n => Assert.Empty(n.Host.GetConnections(revokedNode.Host.PeerId)));

        // A signed request of the revoked peer is refused as unauthorised.
        var (envelope, _, _) = Internal.KeyExchangeClient.CreateRequest(revokedNode.Identity, TestSwarm.Id, swarm.OwnerNode.Host.PeerId, DateTimeOffset.UtcNow);
        var response = swarm.Owner.Evaluate(Google.Protobuf.MessageExtensions.ToByteArray(envelope), revokedNode.Host.PeerId);
        Assert.Equal(Protos.KeyExchangeStatusCode.Unauthorized, response.Status);
        Assert.True(response.SealedKey.IsEmpty);

        await graceEnded.WaitAsync(Timeout);
        await revokedNode.Host.CloseConnectionsAsync().AsTask().WaitAsync(Timeout);
        // Exactly "cannot reach the owner" (not a refusal by an owner it reached, nor a hang).
        await Assert.ThrowsAsync<IOException>(() => revokedMember.RequestKeyAsync().WaitAsync(Timeout));
        foreach (var target in swarm.AllHosts.Where(h => h != revokedNode.Host).Select(h => h.ListenAddresses[0]))
        {
            await SwarmTestNodes.AssertDialRefusedFastAsync(revokedNode.Host, target);
        }
        await swarm.AssertEveryPairConnectedAndPingsAsync2(exclude: revokedNode.Host);
    }

    [Fact]
    public async Task Leave_ReturnsTheMemberToThePublicNetwork()
    {
        await using var nodes = new SwarmTestNodes(output);
        var swarm = await TestSwarm.StartAsync(nodes, memberCount: 2, mesh: false);
        var member = swarm.Members[0];
        var node = swarm.MemberNodes[0];
        var left = SwarmTestNodes.NextEventAsync<SwarmLeft>(h => member.Changed += h);

        await member.LeaveAsync().WaitAsync(Timeout);

        await left.WaitAsync(Timeout);
        Assert.False(member.IsJoined);
        Assert.False(member.GetStatus().IsPrivate);
        Assert.Null(node.Host.PrivateNetworkKeys.Key);
        Assert.Empty(node.Host.Connections);
        var publicPeer = await nodes.StartAsync();
        await SwarmTestNodes.PingAsync(await publicPeer.Host.DialAsync(node.Address).AsTask().WaitAsync(Timeout));
        await SwarmTestNodes.AssertDialRefusedFastAsync(node.Host, swarm.OwnerNode.Address);

        // The key is kept: joining again needs no exchange.
        Assert.Equal(1, await member.JoinAsync().WaitAsync(Timeout));
        await SwarmTestNodes.PingAsync(node.Host.GetConnections(swarm.OwnerNode.Host.PeerId)[0]);
    }

    [Fact]
    public async Task EnrolmentHost_HandsTheKeyToANewMember_WhileTheOwnerIsPrivate()
    {
        await using var nodes = new SwarmTestNodes(output);
        var swarm = await TestSwarm.StartAsync(nodes, memberCount: 1, mesh: false);
        Assert.True(swarm.Owner.IsJoined);
        var stranger = await nodes.StartAsync();
        Assert.Throws<ArgumentException>(() => swarm.Owner.ServeEnrolment(stranger.Host)); // another identity
        Assert.Throws<ArgumentException>(() => swarm.Owner.ServeEnrolment(swarm.OwnerNode.Host)); // the private host itself
        var enrolment = await nodes.StartAsync(identity: PrivateKey.FromProtobuf(swarm.OwnerNode.Identity.ToProtobuf()));
        using var serving = swarm.Owner.ServeEnrolment(enrolment.Host);

        var newcomerNode = await nodes.StartAsync();
        Assert.True(swarm.Owner.Authorize(newcomerNode.Host.PeerId));
        var newcomer = nodes.Own(new SwarmMember(newcomerNode.Host, newcomerNode.Identity,
            new SwarmMembership(TestSwarm.Id, swarm.OwnerNode.Host.PeerId, enrolment.Host.ListenAddresses), loggerFactory: nodes.LoggerFactory));
        await newcomer.RequestKeyAsync().WaitAsync(Timeout);
        Assert.Equal(swarm.Owner.CurrentKey, newcomer.Key);

        // The response names the private bootstrap addresses: the newcomer joins the swarm through them.
        Assert.Equal(1, await newcomer.JoinAsync().WaitAsync(Timeout));
        await SwarmTestNodes.PingAsync(newcomerNode.Host.GetConnections(swarm.OwnerNode.Host.PeerId).Single(c => c.PrivateNetworkKey is not null));

        // An unauthorised peer is refused there too; once the registration is disposed nothing is served.
        var outsiderNode = await nodes.StartAsync();
        var outsider = nodes.Own(new SwarmMember(outsiderNode.Host, outsiderNode.Identity,
            new SwarmMembership(TestSwarm.Id, swarm.OwnerNode.Host.PeerId, enrolment.Host.ListenAddresses), loggerFactory: nodes.LoggerFactory));
        var refused = await Assert.ThrowsAsync<SwarmKeyExchangeException>(() => outsider.RequestKeyAsync().WaitAsync(Timeout));
        Assert.Equal(KeyExchangeStatus.Unauthorized, refused.Status);
        serving.Dispose();
        await Assert.ThrowsAsync<P2PNet.ProtocolNotSupportedException>(() => outsider.RequestKeyAsync().WaitAsync(Timeout));
        Assert.Null(outsider.Key);
    }
}
