using P2PNet.Multiformats;
using P2PNet.Security.Pnet;
using Xunit.Abstractions;

namespace P2PNet.Swarm.Tests;

/// <summary>The SQLite store: an owner or member restarted from the same file resumes its swarm.</summary>
public sealed class SwarmPersistenceTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = SwarmTestNodes.Timeout;

    [Fact]
    public async Task Owner_RestartedFromTheSameStore_KnowsItsSwarmAndServesKeys()
    {
        await using var nodes = new SwarmTestNodes(output);
        var ownerNode = await nodes.StartAsync();
        var memberNode = await nodes.StartAsync();
        var revokedNode = await nodes.StartAsync();
        var path = Path.Combine(nodes.Directory, "owner.db");
        var bootstrap = new[] { Multiaddr.Parse($"/ip4/127.0.0.1/tcp/4001/p2p/{ownerNode.Host.PeerId}") };
        var options = new SwarmOptions { RotationGracePeriod = TimeSpan.FromHours(1) };
        SwarmKey key;
        SwarmKey firstKey;
        using (var store = SwarmStore.Open(path))
        {
            await using var owner = SwarmOwner.Create(ownerNode.Host, ownerNode.Identity, store, "persisted", [memberNode.Host.PeerId, revokedNode.Host.PeerId],
                bootstrap, options, nodes.LoggerFactory);
            firstKey = owner.CurrentKey;
            Assert.True(await owner.RevokeAsync(revokedNode.Host.PeerId).WaitAsync(Timeout));
            key = owner.CurrentKey;
        }

        using var reopened = SwarmStore.Open(path);
        await using var restarted = nodes.Own(SwarmOwner.Open(ownerNode.Host, ownerNode.Identity, reopened, options, nodes.LoggerFactory));
        Assert.Equal("persisted", restarted.SwarmId);
        Assert.Equal(key, restarted.CurrentKey);
        var status = restarted.GetStatus();
        Assert.Equal([memberNode.Host.PeerId], status.Members);
        Assert.Equal(bootstrap, status.Bootstrap);
        Assert.Equal([firstKey.FingerprintHex], status.AcceptedKeyFingerprints);
        Assert.NotNull(status.GraceUntil);
        Assert.False(restarted.IsAuthorized(revokedNode.Host.PeerId));
        Assert.Throws<InvalidOperationException>(() => SwarmOwner.Create(ownerNode.Host, ownerNode.Identity, reopened));

        var member = nodes.Own(new SwarmMember(memberNode.Host, memberNode.Identity,
            new SwarmMembership("persisted", ownerNode.Host.PeerId, ownerNode.Host.ListenAddresses), loggerFactory: nodes.LoggerFactory));
        Assert.Equal(key, await member.RequestKeyAsync().WaitAsync(Timeout));
    }

    [Fact]
    public async Task Open_ByAnotherIdentity_IsRefused()
    {
        await using var nodes = new SwarmTestNodes(output);
        var ownerNode = await nodes.StartAsync();
        var other = await nodes.StartAsync();
        var path = Path.Combine(nodes.Directory, "owner.db");
        using var store = SwarmStore.Open(path);
        await (SwarmOwner.Create(ownerNode.Host, ownerNode.Identity, store)).DisposeAsync();
        Assert.Throws<InvalidOperationException>(() => SwarmOwner.Open(other.Host, other.Identity, store));
        Assert.Throws<ArgumentException>(() => SwarmOwner.Open(ownerNode.Host, other.Identity, store));
    }

    [Fact]
    public async Task Member_WithStore_ReloadsItsKeyAndBootstrapAfterRestart()
    {
        await using var nodes = new SwarmTestNodes(output);
        var swarm = await TestSwarm.StartAsync(nodes, memberCount: 1, join: false);
        var node = swarm.MemberNodes[0];
        var path = Path.Combine(nodes.Directory, "member.db");
        SwarmKey key;
        using (var store = SwarmStore.Open(path))
        {
            await using var member = new SwarmMember(node.Host, node.Identity, swarm.Membership, store, loggerFactory: nodes.LoggerFactory);
            key = await member.RequestKeyAsync().WaitAsync(Timeout);
        }
        using var reopened = SwarmStore.Open(path);
        await using var resumed = SwarmMember.Open(node.Host, node.Identity, reopened, loggerFactory: nodes.LoggerFactory);
        Assert.Equal(key, resumed.Key);
        Assert.Equal(TestSwarm.Id, resumed.Membership.SwarmId);
        Assert.Equal(swarm.OwnerNode.Host.PeerId, resumed.Membership.Owner);
        Assert.NotEmpty(resumed.GetStatus().Bootstrap);
    }
}

/// <summary>Peers whose id does not inline their public key (RSA, sha2-256 ids).</summary>
public sealed class HashedPeerIdTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = SwarmTestNodes.Timeout;

    private static P2PNet.Crypto.PrivateKey NewRsaKey()
    {
        using var rsa = System.Security.Cryptography.RSA.Create(2048);
        byte[] der = rsa.ExportRSAPrivateKey();
        // libp2p PrivateKey protobuf: Type = RSA (0), Data = PKCS#1 DER.
        var encoded = new List<byte> { 0x08, 0x00, 0x12 };
        uint length = (uint)der.Length;
        while (length >= 0x80)
        {
            encoded.Add((byte)(length | 0x80));
            length >>= 7;
        }
        encoded.Add((byte)length);
        encoded.AddRange(der);
        return P2PNet.Crypto.PrivateKey.FromProtobuf(encoded.ToArray());
    }

    [Fact]
    public async Task RsaMember_AuthorisedAfterIdentify_HasItsPublicKeyRecorded_AndGetsTheKey()
    {
        await using var nodes = new SwarmTestNodes(output);
        var ownerNode = await nodes.StartAsync();
        var rsaNode = await nodes.StartAsync(identity: NewRsaKey());
        Assert.Null(rsaNode.Host.PeerId.TryGetPublicKey());
        var store = SwarmStore.Open(Path.Combine(nodes.Directory, "owner.db"));
        nodes.Own(new DisposeAction(store.Dispose));
        var owner = nodes.Own(SwarmOwner.Create(ownerNode.Host, ownerNode.Identity, store, "rsa", loggerFactory: nodes.LoggerFactory));
        var identified = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = ownerNode.Host.Events.Subscribe<P2PNet.Host.PeerIdentificationCompleted>(e =>
        {
            if (e.Peer == rsaNode.Host.PeerId)
            {
                identified.TrySetResult();
            }
        });
        await rsaNode.Host.DialAsync(ownerNode.Address).AsTask().WaitAsync(Timeout);
        await identified.Task.WaitAsync(Timeout);

        Assert.True(owner.Authorize(rsaNode.Host.PeerId));

        Assert.Equal(rsaNode.Identity.PublicKey, Assert.Single(store.ReadPeers()).PublicKey);
        var member = nodes.Own(new SwarmMember(rsaNode.Host, rsaNode.Identity, new SwarmMembership("rsa", ownerNode.Host.PeerId, ownerNode.Host.ListenAddresses),
            loggerFactory: nodes.LoggerFactory));
        Assert.Equal(owner.CurrentKey, await member.RequestKeyAsync().WaitAsync(Timeout));
    }

    [Fact]
    public async Task RsaMember_AuthorisedBeforeAnyContact_IsRecordedFromItsFirstSignedRequest()
    {
        await using var nodes = new SwarmTestNodes(output);
        var ownerNode = await nodes.StartAsync();
        var rsaNode = await nodes.StartAsync(identity: NewRsaKey());
        var store = SwarmStore.Open(Path.Combine(nodes.Directory, "owner.db"));
        nodes.Own(new DisposeAction(store.Dispose));
        var owner = nodes.Own(SwarmOwner.Create(ownerNode.Host, ownerNode.Identity, store, "rsa", [rsaNode.Host.PeerId], loggerFactory: nodes.LoggerFactory));
        Assert.Null(Assert.Single(store.ReadPeers()).PublicKey);

        var member = nodes.Own(new SwarmMember(rsaNode.Host, rsaNode.Identity, new SwarmMembership("rsa", ownerNode.Host.PeerId, ownerNode.Host.ListenAddresses),
            loggerFactory: nodes.LoggerFactory));
        Assert.Equal(owner.CurrentKey, await member.RequestKeyAsync().WaitAsync(Timeout));
        Assert.Equal(rsaNode.Identity.PublicKey, Assert.Single(store.ReadPeers()).PublicKey);
    }
}
