using System.Net;
using P2PNet.Crypto;
using P2PNet.Multiformats;
using P2PNet.Vpn.Internal;
using P2PNet.Vpn.Protos;

namespace P2PNet.Vpn.Tests;

/// <summary>Routing tables converge: missed pushes are retried, a restarted coordinator is followed, inconsistent
/// tables are refused, advertised addresses are filtered, and repeated joins change nothing.</summary>
public class VpnConvergenceTests
{
    private static readonly TimeSpan Timeout = VpnCluster.Timeout;

    private static void FastRetries(VpnOptions o)
    {
        o.PushRetryInitialDelay = TimeSpan.FromMilliseconds(50);
        o.PushRetryMaxDelay = TimeSpan.FromMilliseconds(400);
    }

    [Fact]
    public async Task MissedPush_IsRetried_UntilTheMemberNoLongerRoutesToTheRemovedPeer()
    {
        await using var cluster = await VpnCluster.CreateAsync(3, configure: FastRetries);
        await cluster.StartAllAsync();
        using var cts = new CancellationTokenSource(Timeout);
        var coordinator = cluster.Coordinator;
        var removedAddress = cluster.Vpns[2].Address!;
        var refused = VpnControlTestPeer.RefuseControlStreams(cluster.Vpns[1], refusals: 1);

        Assert.True(await coordinator.RemovePeerAsync(cluster.Hosts[2].PeerId, cts.Token));

        Assert.Equal(1, refused.Value); // the first push really failed
        await VpnCluster.WaitUntilAsync(() => cluster.Vpns[1].RoutingTable!.Version == coordinator.RoutingTable!.Version);
        Assert.Equal(2, cluster.Vpns[1].RoutingTable!.Members.Count);
        await cluster.Devices[1].SendAsync(Packets.IPv4(cluster.Vpns[1].Address!, removedAddress, [1]), cts.Token);
        await VpnCluster.WaitUntilAsync(() => cluster.Vpns[1].GetStatistics().DropCount(VpnDropReason.Unroutable) == 1);
    }

    [Fact]
    public async Task MissedPushes_WhileAMemberRefusesForAWhile_ConvergeOnTheLatestTable()
    {
        await using var cluster = await VpnCluster.CreateAsync(3, configure: FastRetries);
        await cluster.StartAllAsync();
        using var cts = new CancellationTokenSource(Timeout);
        var coordinator = cluster.Coordinator;
        var refused = VpnControlTestPeer.RefuseControlStreams(cluster.Vpns[2], refusals: 4);
        using var ghost1 = PrivateKey.GenerateEd25519();
        using var ghost2 = PrivateKey.GenerateEd25519();

        await coordinator.AddPeerAsync(ghost1.PublicKey.ToPeerId(), null, cts.Token);
        await coordinator.AddPeerAsync(ghost2.PublicKey.ToPeerId(), null, cts.Token);

        await VpnCluster.WaitUntilAsync(() => cluster.Vpns[2].RoutingTable!.Version == coordinator.RoutingTable!.Version);
        Assert.Equal(4, refused.Value);
        Assert.Equal(5, cluster.Vpns[2].RoutingTable!.Members.Count);
        Assert.Equal(coordinator.RoutingTable!.Version, cluster.Vpns[1].RoutingTable!.Version);
    }

    [Fact]
    public async Task RestartedCoordinator_TablesAreAcceptedByEveryMember()
    {
        await using var cluster = await VpnCluster.CreateAsync(3, configure: FastRetries);
        await cluster.StartAllAsync();
        using var cts = new CancellationTokenSource(Timeout);
        using var ghost = PrivateKey.GenerateEd25519();
        await cluster.Coordinator.AddPeerAsync(ghost.PublicKey.ToPeerId(), null, cts.Token);
        await cluster.Coordinator.AddPeerAsync(ghost.PublicKey.ToPeerId(), null, cts.Token);
        var before = cluster.Vpns[1].RoutingTable!;
        Assert.True(before.Version >= 2);

        // The coordinator process restarts: same identity and host, a fresh VPN endpoint whose versions start at 1.
        await cluster.Vpns[0].DisposeAsync();
        var restarted = new VpnCoordinator(cluster.Hosts[0], cluster.Devices[0], new VpnOptions
        {
            VpnId = cluster.VpnId, // kept across the restart, as the CLI keeps it beside the key
            Network = IPNetwork.Parse("10.50.0.0/24"),
            Address = IPAddress.Parse("10.50.0.1"),
            PushRetryInitialDelay = TimeSpan.FromMilliseconds(50),
            PushRetryMaxDelay = TimeSpan.FromMilliseconds(400),
        });
        cluster.Vpns[0] = restarted;
        var table = await restarted.StartAsync([new VpnMemberRequest(cluster.Hosts[1].PeerId), new VpnMemberRequest(cluster.Hosts[2].PeerId)], cts.Token);
        Assert.Equal(1UL, table.Version);

        await VpnCluster.WaitUntilAsync(() => cluster.Vpns.Skip(1).All(v => v.RoutingTable!.Epoch == table.Epoch && v.RoutingTable.Version == table.Version));
        Assert.True(table.IsNewerThan(before));
        Assert.Equal(3, cluster.Vpns[1].RoutingTable!.Members.Count);

        // And the data plane follows the new table.
        await cluster.Devices[1].SendAsync(Packets.IPv4(cluster.Vpns[1].Address!, restarted.Address!, [7]), cts.Token);
        Assert.Equal(7, (await cluster.Devices[0].ReceiveAsync(cts.Token))[20]);
    }

    [Theory]
    [InlineData("outside")]
    [InlineData("network-address")]
    [InlineData("duplicate-address")]
    [InlineData("duplicate-peer")]
    public async Task Table_WithInconsistentMembers_IsRefusedAndThePreviousKept(string flaw)
    {
        await using var cluster = await VpnCluster.CreateAsync(3);
        await cluster.StartAllAsync();
        using var cts = new CancellationTokenSource(Timeout);
        var current = cluster.Vpns[2].RoutingTable!;
        var members = current.Members.ToList();
        members[1] = flaw switch
        {
            "outside" => members[1] with { Address = IPAddress.Parse("10.99.0.5") },
            "network-address" => members[1] with { Address = IPAddress.Parse("10.50.0.0") },
            "duplicate-address" => members[1] with { Address = members[0].Address },
            _ => members[1] with { Peer = members[0].Peer },
        };
        var bad = current with { Version = current.Version + 1, Members = members };

        var answer = await VpnControlTestPeer.ExchangeAsync(cluster.Hosts[0], cluster.Vpns[2],
            new ControlMessage { Table = TableCodec.Sign(bad, cluster.Hosts[0].Options.Identity!) }, cts.Token);

        Assert.NotNull(answer);
        Assert.False(answer.TableAck.Accepted);
        Assert.Equal(current.Version, answer.TableAck.Version);
        Assert.Same(current, cluster.Vpns[2].RoutingTable);
        Assert.Throws<VpnTableRejectedException>(() => TableCodec.Verify(TableCodec.Sign(bad, cluster.Hosts[0].Options.Identity!), cluster.Hosts[0].PeerId, null));
    }

    [Fact]
    public async Task Join_AdvertisingUndialableAddresses_IsListedWithTheDialableOnesOnly()
    {
        await using var cluster = await VpnCluster.CreateAsync(2);
        using var cts = new CancellationTokenSource(Timeout);
        await cluster.Coordinator.StartAsync([new VpnMemberRequest(cluster.Hosts[1].PeerId)], cts.Token);
        await cluster.Hosts[1].DialAsync(cluster.CoordinatorAddress, cts.Token);
        string[] advertised =
        [
            "/ip4/169.254.3.4/tcp/4001",  // link-local: dropped
            "/ip6/fe80::1/tcp/4001",      // link-local: dropped
            "/ip6/::/tcp/4001",           // unspecified IPv6, seen over IPv4: dropped
            "/ip4/224.0.0.251/tcp/4001",  // multicast: dropped
            "/ip4/0.0.0.0/tcp/4555",      // unspecified: the observed address, same port
            "/ip4/192.0.2.7/tcp/4001",    // routable: kept
            "/ip4/127.0.0.1/tcp/4002",    // loopback, and the peer is seen over loopback: kept
            "/ip4/192.0.2.7/tcp/4001",    // duplicate: dropped
        ];

        var answer = await VpnControlTestPeer.ExchangeAsync(cluster.Hosts[1], cluster.Vpns[0],
            VpnControlTestPeer.Join(advertised.Select(Multiaddr.Parse)), cts.Token);

        Assert.True(answer!.JoinResponse.Accepted, answer.JoinResponse.Reason);
        var table = TableCodec.Verify(answer.JoinResponse.Table, cluster.Hosts[0].PeerId, null);
        Assert.Equal(["/ip4/127.0.0.1/tcp/4555", "/ip4/192.0.2.7/tcp/4001", "/ip4/127.0.0.1/tcp/4002"],
            table.Find(cluster.Hosts[1].PeerId)!.Addresses.Select(a => a.ToString()));
    }

    [Fact]
    public async Task RepeatedJoin_WithNothingChanged_PushesNoTable()
    {
        await using var cluster = await VpnCluster.CreateAsync(3);
        await cluster.StartAllAsync();
        using var cts = new CancellationTokenSource(Timeout);
        var version = cluster.Vpns[0].RoutingTable!.Version;
        int changes = 0;
        cluster.Vpns[1].RoutingTableChanged += (_, _) => Interlocked.Increment(ref changes);

        var answer = await VpnControlTestPeer.ExchangeAsync(cluster.Hosts[2], cluster.Vpns[0],
            VpnControlTestPeer.Join(cluster.Hosts[2].ListenAddresses), cts.Token);

        Assert.True(answer!.JoinResponse.Accepted, answer.JoinResponse.Reason);
        Assert.Equal(version, TableCodec.Verify(answer.JoinResponse.Table, cluster.Hosts[0].PeerId, null).Version);
        Assert.Equal(version, cluster.Vpns[0].RoutingTable!.Version);
        Assert.Equal(0, Volatile.Read(ref changes));

        // A join that does change something (new addresses) is still published.
        answer = await VpnControlTestPeer.ExchangeAsync(cluster.Hosts[2], cluster.Vpns[0],
            VpnControlTestPeer.Join([.. cluster.Hosts[2].ListenAddresses, Multiaddr.Parse("/ip4/192.0.2.9/tcp/4001")]), cts.Token);
        Assert.True(answer!.JoinResponse.Accepted);
        await VpnCluster.WaitUntilAsync(() => cluster.Vpns[1].RoutingTable!.Version == version + 1);
    }

    [Fact]
    public async Task Join_AfterAFailedAttempt_CanBeTriedAgain()
    {
        await using var cluster = await VpnCluster.CreateAsync(2);
        using var cts = new CancellationTokenSource(Timeout);
        // The coordinator's host is up but its VPN has not started: the first join fails.
        await Assert.ThrowsAnyAsync<Exception>(() => cluster.Member(1).JoinAsync(cluster.CoordinatorAddress, null, cts.Token));
        await cluster.Coordinator.StartAsync([new VpnMemberRequest(cluster.Hosts[1].PeerId)], cts.Token);

        var table = await cluster.Member(1).JoinAsync(cluster.CoordinatorAddress, null, cts.Token);

        Assert.Equal(2, table.Members.Count);
        await Assert.ThrowsAsync<InvalidOperationException>(() => cluster.Member(1).JoinAsync(cluster.CoordinatorAddress, null, cts.Token));
    }

    [Fact]
    public async Task MemberWhoseDataStreamComesBack_GetsTheMissedTableWithoutWaitingForTheBackoff()
    {
        // Retries so slow that only the reconnection can deliver the table within the test's timeout.
        await using var cluster = await VpnCluster.CreateAsync(3, configure: o =>
        {
            o.PushRetryInitialDelay = TimeSpan.FromMinutes(10);
            o.PushRetryMaxDelay = TimeSpan.FromMinutes(10);
            o.RedialInitialDelay = TimeSpan.FromMilliseconds(20);
            o.RedialMaxDelay = TimeSpan.FromMilliseconds(200); // the first link comes up soon after the member joins
        });
        await cluster.StartAllAsync();
        // The data stream must be up before the push is refused: if it came up afterwards (a first dial made before the
        // member joined is redialed with backoff), its link-up would rightly deliver the table, and the member would
        // never be seen missing it.
        await cluster.WaitForDataStreamAsync(0, 2);
        using var cts = new CancellationTokenSource(Timeout);
        var coordinator = cluster.Coordinator;
        var refused = VpnControlTestPeer.RefuseControlStreams(cluster.Vpns[2], refusals: 1);
        using var ghost = PrivateKey.GenerateEd25519();
        await coordinator.AddPeerAsync(ghost.PublicKey.ToPeerId(), null, cts.Token);
        Assert.Equal(1, refused.Value);
        Assert.NotEqual(coordinator.RoutingTable!.Version, cluster.Vpns[2].RoutingTable!.Version);

        // The member drops off and comes back: its data stream to the coordinator is redialed.
        await cluster.Hosts[2].DisconnectAsync(cluster.Hosts[0].PeerId);

        await VpnCluster.WaitUntilAsync(() => cluster.Vpns[2].RoutingTable!.Version == coordinator.RoutingTable!.Version);
        Assert.Equal(4, cluster.Vpns[2].RoutingTable!.Members.Count);
    }
}
