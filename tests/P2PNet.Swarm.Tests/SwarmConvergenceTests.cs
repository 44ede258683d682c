using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Security.Pnet;
using P2PNet.Testing;
using Xunit.Abstractions;

namespace P2PNet.Swarm.Tests;

/// <summary>
/// Revocation and rotation reach every member, also one that was offline or restarting at the time; the grace period
/// ends for keys and for connections alike. Real hosts on 127.0.0.1; swarm time is a <see cref="ManualTimeProvider"/>.
/// </summary>
public sealed class SwarmConvergenceTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = SwarmTestNodes.Timeout;
    private static readonly TimeSpan Grace = TimeSpan.FromMinutes(10);

    [Fact]
    public async Task MemberOfflineDuringRevocation_ConvergesOnRestart_AndRefusesTheRevokedPeer()
    {
        await using var nodes = new SwarmTestNodes(output);
        await using var lab = await ConvergenceLab.StartAsync(nodes, memberCount: 3);
        var (offline, other, revoked) = (lab.Members[0], lab.Members[1], lab.Members[2]);
        var oldKey = lab.Owner.CurrentKey;
        await revoked.Node.Host.DialAsync(offline.Node.Address).AsTask().WaitAsync(Timeout);
        await offline.StopAsync();

        var otherRotated = SwarmTestNodes.NextEventAsync<SwarmKeyRotated>(h => other.Member.Changed += h);
        Assert.True(await lab.Owner.RevokeAsync(revoked.PeerId).WaitAsync(Timeout));
        await otherRotated.WaitAsync(Timeout);
        var newKey = lab.Owner.CurrentKey;

        var restarted = await lab.RestartAsync(offline);
        var rotated = SwarmTestNodes.NextEventAsync<SwarmKeyRotated>(h => restarted.Member.Changed += h);
        Assert.Equal(1, await restarted.Member.JoinAsync().WaitAsync(Timeout));
        var rotation = await rotated.WaitAsync(Timeout);

        Assert.Equal(newKey.FingerprintHex, rotation.NewKeyFingerprint);
        Assert.Equal(newKey, restarted.Member.Key);
        Assert.Equal(newKey, restarted.Node.Host.PrivateNetworkKeys.Key);
        Assert.Equal([oldKey], restarted.Node.Host.PrivateNetworkKeys.AlsoAccepted);
        Assert.Contains(revoked.PeerId, restarted.Store.ReadRevoked());
        // Inside the grace period the revoked peer's old key still opens the PSK layer: the member refuses it by id.
        await SwarmTestNodes.AssertDialRefusedFastAsync(revoked.Node.Host, restarted.Node.Address);

        await lab.EndGraceAsync(restarted, other);

        Assert.Empty(restarted.Node.Host.PrivateNetworkKeys.AlsoAccepted);
        Assert.All(restarted.Node.Host.Connections, c => Assert.Equal(newKey, c.PrivateNetworkKey));
        await SwarmTestNodes.PingAsync(restarted.Node.Host.GetConnections(lab.OwnerNode.Host.PeerId)[0]);
        await SwarmTestNodes.AssertDialRefusedFastAsync(revoked.Node.Host, restarted.Node.Address);
    }

    [Fact]
    public async Task RevokedList_SurvivesAMemberRestart_SoALeakedCurrentKeyDoesNotLetTheRevokedPeerIn()
    {
        await using var nodes = new SwarmTestNodes(output);
        await using var lab = await ConvergenceLab.StartAsync(nodes, memberCount: 2);
        var (member, revoked) = (lab.Members[0], lab.Members[1]);
        var rotated = SwarmTestNodes.NextEventAsync<SwarmKeyRotated>(h => member.Member.Changed += h);
        Assert.True(await lab.Owner.RevokeAsync(revoked.PeerId).WaitAsync(Timeout));
        await rotated.WaitAsync(Timeout);
        var newKey = lab.Owner.CurrentKey;

        var restarted = await lab.RestartAsync(member);
        await restarted.Member.JoinAsync().WaitAsync(Timeout);

        Assert.Contains(revoked.PeerId, restarted.Member.RevokedPeers);
        // The revoked peer got hold of the current key: the PSK layer lets it through, the member still refuses it.
        revoked.Node.Host.SetPrivateNetworkKeys(newKey);
        await SwarmTestNodes.AssertDialRefusedFastAsync(revoked.Node.Host, restarted.Node.Address);
        Assert.Empty(restarted.Node.Host.GetConnections(revoked.PeerId));
    }

    [Fact]
    public async Task MemberRestartedDuringGrace_DropsThePreviousKeyWhenGraceEnds()
    {
        await using var nodes = new SwarmTestNodes(output);
        await using var lab = await ConvergenceLab.StartAsync(nodes, memberCount: 1);
        var member = lab.Members[0];
        var oldKey = lab.Owner.CurrentKey;
        var rotated = SwarmTestNodes.NextEventAsync<SwarmKeyRotated>(h => member.Member.Changed += h);
        var newKey = await lab.Owner.RotateKeyAsync().WaitAsync(Timeout);
        await rotated.WaitAsync(Timeout);
        lab.Clock.Advance(Grace / 2);

        var restarted = await lab.RestartAsync(member);
        await restarted.Member.JoinAsync().WaitAsync(Timeout);
        Assert.Equal(newKey, restarted.Node.Host.PrivateNetworkKeys.Key);
        Assert.Equal([oldKey], restarted.Node.Host.PrivateNetworkKeys.AlsoAccepted);

        await lab.EndGraceAsync(restarted);

        Assert.Empty(restarted.Node.Host.PrivateNetworkKeys.AlsoAccepted);
        Assert.Empty(restarted.Member.GetStatus().AcceptedKeyFingerprints);
        var holderOfOldKey = await nodes.StartAsync(oldKey);
        await SwarmTestNodes.AssertDialRefusedFastAsync(holderOfOldKey.Host, restarted.Node.Address);
        await SwarmTestNodes.PingAsync(restarted.Node.Host.GetConnections(lab.OwnerNode.Host.PeerId)[0]);
    }

    [Fact]
    public async Task ConnectionsMadeUnderTheOldKey_AreClosedWhenGraceEnds_AndMembersReconnectUnderTheNewKey()
    {
        await using var nodes = new SwarmTestNodes(output);
        await using var lab = await ConvergenceLab.StartAsync(nodes, memberCount: 2);
        var (first, second) = (lab.Members[0], lab.Members[1]);
        await second.Node.Host.DialAsync(first.Node.Address).AsTask().WaitAsync(Timeout);
        var oldKey = lab.Owner.CurrentKey;
        var rotated = lab.Members.Select(m => SwarmTestNodes.NextEventAsync<SwarmKeyRotated>(h => m.Member.Changed += h)).ToArray();
        var newKey = await lab.Owner.RotateKeyAsync().WaitAsync(Timeout);
        await Task.WhenAll(rotated).WaitAsync(Timeout);
        // Someone still on the old key gets in during the grace period.
        var late = await nodes.StartAsync(oldKey);
        var lateConnection = await late.Host.DialAsync(first.Node.Address).AsTask().WaitAsync(Timeout);
        await SwarmTestNodes.PingAsync(lateConnection);
        Assert.Contains(lab.AllHosts.SelectMany(h => h.Connections), c => oldKey.Equals(c.PrivateNetworkKey));

        await lab.EndGraceAsync(first, second);

        await lateConnection.Closed.WaitAsync(Timeout);
        Assert.Empty(first.Node.Host.GetConnections(late.Host.PeerId));
        Assert.All(lab.AllHosts.SelectMany(h => h.Connections), c => Assert.Equal(newKey, c.PrivateNetworkKey));
        foreach (var member in lab.Members)
        {
            await SwarmTestNodes.PingAsync(member.Node.Host.GetConnections(lab.OwnerNode.Host.PeerId)[0]);
        }
        await SwarmTestNodes.PingAsync(await second.Node.Host.DialAsync(first.Node.Address).AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task FailedRefetch_IsRetriedWithDoublingBackoff_UntilTheMemberHasTheNewKey()
    {
        await using var nodes = new SwarmTestNodes(output);
        var options = ConvergenceLab.DefaultOptions();
        options.RefetchInitialBackoff = TimeSpan.FromSeconds(3);
        await using var lab = await ConvergenceLab.StartAsync(nodes, memberCount: 1, options);
        var member = lab.Members[0];
        var oldKey = lab.Owner.CurrentKey;
        await WaitUntilAsync(() => !member.Member.IsRefreshing);
        // The owner stops serving the exchange for a while: the member's fetch after the notification fails.
        lab.OwnerNode.Host.RemoveStreamHandler(SwarmProtocols.KeyExchange);

        var newKey = await lab.Owner.RotateKeyAsync().WaitAsync(Timeout);
        await lab.Clock.WaitForTimerAsync(TimeSpan.FromSeconds(3), Timeout);
        Assert.Equal(oldKey, member.Member.Key);
        lab.Clock.Advance(TimeSpan.FromSeconds(3));
        await lab.Clock.WaitForTimerAsync(TimeSpan.FromSeconds(6), Timeout);
        Assert.Equal(oldKey, member.Member.Key);

        lab.OwnerNode.Host.SetStreamHandler(SwarmProtocols.KeyExchange, lab.Owner.HandleKeyExchangeAsync);
        var rotated = SwarmTestNodes.NextEventAsync<SwarmKeyRotated>(h => member.Member.Changed += h);
        lab.Clock.Advance(TimeSpan.FromSeconds(6));
        var rotation = await rotated.WaitAsync(Timeout);

        Assert.Equal(newKey.FingerprintHex, rotation.NewKeyFingerprint);
        Assert.Equal(newKey, member.Member.Key);
        Assert.Equal(newKey, member.Node.Host.PrivateNetworkKeys.Key);
        Assert.Equal([oldKey], member.Node.Host.PrivateNetworkKeys.AlsoAccepted);
        await WaitUntilAsync(() => !member.Member.IsRefreshing);
    }

    private static Task WaitUntilAsync(Func<bool> condition) =>
        Conditions.WaitUntilAsync(condition, Timeout, "the condition did not hold in time");
}

/// <summary>An owner and members that each persist to their own store, on one manual clock; members can be stopped and restarted from their store.</summary>
internal sealed class ConvergenceLab : IAsyncDisposable
{
    public const string Id = "convergence";

    private readonly SwarmTestNodes _nodes;
    private readonly List<LabMember> _all = [];

    private ConvergenceLab(SwarmTestNodes nodes, SwarmOptions options, ManualTimeProvider clock)
    {
        _nodes = nodes;
        Options = options;
        Clock = clock;
    }

    public ManualTimeProvider Clock { get; }

    public SwarmOptions Options { get; }

    public required TestNode OwnerNode { get; init; }

    public required SwarmOwner Owner { get; init; }

    public List<LabMember> Members { get; } = [];

    public IEnumerable<P2PHost> AllHosts => [OwnerNode.Host, .. Members.Select(m => m.Node.Host)];

    public static SwarmOptions DefaultOptions() => new() { RotationGracePeriod = TimeSpan.FromMinutes(10) };

    /// <summary>Starts the owner and <paramref name="memberCount"/> members; everyone fetches the key and joins.</summary>
    public static async Task<ConvergenceLab> StartAsync(SwarmTestNodes nodes, int memberCount, SwarmOptions? options = null)
    {
        options ??= DefaultOptions();
        var identities = Enumerable.Range(0, memberCount).Select(_ => PrivateKey.GenerateEd25519()).ToArray();
        var ownerNode = await nodes.StartAsync();
        var ownerStore = SwarmStore.Open(Path.Combine(nodes.Directory, $"owner-{Guid.NewGuid():N}.db"));
        nodes.Own(new DisposeAction(ownerStore.Dispose));
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        var owner = nodes.Own(SwarmOwner.Create(ownerNode.Host, ownerNode.Identity, ownerStore, Id, identities.Select(i => i.PublicKey.ToPeerId()),
            options: options, loggerFactory: nodes.LoggerFactory, timeProvider: clock));
        var lab = new ConvergenceLab(nodes, options, clock) { OwnerNode = ownerNode, Owner = owner };
        var membership = new SwarmMembership(Id, ownerNode.Host.PeerId, ownerNode.Host.ListenAddresses);
        foreach (var identity in identities)
        {
            var node = await lab.StartHostAsync(identity);
            var store = SwarmStore.Open(Path.Combine(nodes.Directory, $"member-{Guid.NewGuid():N}.db"));
            var member = new SwarmMember(node.Host, node.Identity, membership, store, options, nodes.LoggerFactory, clock);
            lab.Members.Add(lab.Track(new LabMember(node, member, store)));
            await member.RequestKeyAsync().WaitAsync(SwarmTestNodes.Timeout);
        }
        await owner.JoinAsync().WaitAsync(SwarmTestNodes.Timeout);
        foreach (var member in lab.Members)
        {
            Assert.Equal(1, await member.Member.JoinAsync().WaitAsync(SwarmTestNodes.Timeout));
        }
        return lab;
    }

    /// <summary>Starts <paramref name="member"/> again (stopping it first if needed): a new host with the same identity, the same store file, <see cref="SwarmMember.Open"/>. Does not join.</summary>
    public async Task<LabMember> RestartAsync(LabMember member)
    {
        var identity = member.IdentityCopy;
        await member.StopAsync();
        var node = await StartHostAsync(identity);
        var store = SwarmStore.Open(member.Store.Path);
        var swarm = SwarmMember.Open(node.Host, node.Identity, store, Options, _nodes.LoggerFactory, Clock);
        var restarted = Track(new LabMember(node, swarm, store));
        Members[Members.IndexOf(member)] = restarted;
        return restarted;
    }

    /// <summary>Moves the clock past the grace period and waits until the owner and <paramref name="members"/> ended it.</summary>
    public async Task EndGraceAsync(params LabMember[] members)
    {
        var ended = members.Select(m => SwarmTestNodes.NextEventAsync<SwarmGracePeriodEnded>(h => m.Member.Changed += h))
            .Append(SwarmTestNodes.NextEventAsync<SwarmGracePeriodEnded>(h => Owner.Changed += h)).ToArray();
        Clock.Advance(Options.RotationGracePeriod + TimeSpan.FromSeconds(1));
        await Task.WhenAll(ended).WaitAsync(SwarmTestNodes.Timeout);
    }

    private async Task<TestNode> StartHostAsync(PrivateKey identity)
    {
        var options = new P2PHostOptions { Identity = identity, HandshakeTimeout = TimeSpan.FromSeconds(5) };
        options.ListenAddresses.Add(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
        var host = new P2PHost(options, _nodes.LoggerFactory);
        await host.StartAsync().AsTask().WaitAsync(SwarmTestNodes.Timeout);
        return new TestNode { Host = host, Identity = identity };
    }

    private LabMember Track(LabMember member)
    {
        _all.Add(member);
        return member;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var member in _all)
        {
            await member.StopAsync().WaitAsync(SwarmTestNodes.Timeout);
        }
    }
}

/// <summary>A member's host, <see cref="SwarmMember"/> and store; stopped at most once.</summary>
internal sealed class LabMember(TestNode node, SwarmMember member, SwarmStore store)
{
    private readonly byte[] _identity = node.Identity.ToProtobuf();
    private int _stopped;

    /// <summary>A new instance of the member's identity key (the node's own is disposed with it).</summary>
    public PrivateKey IdentityCopy => PrivateKey.FromProtobuf(_identity);

    public TestNode Node { get; } = node;

    public SwarmMember Member { get; } = member;

    public SwarmStore Store { get; } = store;

    public Peers.PeerId PeerId => Node.Host.PeerId;

    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }
        await Member.DisposeAsync();
        await Node.DisposeAsync();
        Store.Dispose();
    }
}
