using System.Buffers;
using System.Net;
using P2PNet.Crypto;
using P2PNet.IO;
using P2PNet.Security.Pnet;
using P2PNet.Vpn.Internal;
using P2PNet.Vpn.Protos;
using Google.Protobuf;

namespace P2PNet.Vpn.Tests;

public class VpnCoordinatorMemberTests
{
    private static readonly TimeSpan Timeout = VpnCluster.Timeout;

    [Fact]
    public async Task Packets_FlowBetweenEveryPairOfThreeMembers_InAPrivateSwarm()
    {
        await using var cluster = await VpnCluster.CreateAsync(3, SwarmKey.Generate());
        await cluster.StartAllAsync();
        var addresses = cluster.Vpns.Select(v => v.Address!).ToArray();
        Assert.Equal(3, addresses.Distinct().Count());
        Assert.Equal(IPAddress.Parse("10.50.0.1"), addresses[0]);

        for (int from = 0; from < 3; from++)
        {
            for (int to = 0; to < 3; to++)
            {
                if (from != to)
                {
                    for (int n = 0; n < 50; n++)
                    {
                        await cluster.Devices[from].SendAsync(Packets.IPv4(addresses[from], addresses[to], [(byte)from, (byte)to, (byte)n]));
                    }
                }
            }
        }
        using var cts = new CancellationTokenSource(Timeout);
        for (int to = 0; to < 3; to++)
        {
            var seen = new List<byte[]>();
            for (int i = 0; i < 100; i++)
            {
                seen.Add(await cluster.Devices[to].ReceiveAsync(cts.Token));
            }
            Assert.All(seen, p => Assert.Equal(to, p[21]));
            foreach (int from in Enumerable.Range(0, 3).Where(f => f != to))
            {
                // In order per sender.
                Assert.Equal(Enumerable.Range(0, 50).Select(n => (byte)n), seen.Where(p => p[20] == from).Select(p => p[22]));
            }
        }
        var stats = cluster.Vpns[1].GetStatistics();
        Assert.Equal(50, stats.Peers[cluster.Hosts[2].PeerId.ToString()].PacketsReceived);
        Assert.Equal(50, stats.Peers[cluster.Hosts[2].PeerId.ToString()].PacketsSent);
    }

    [Fact]
    public async Task SpoofedAndUnroutablePackets_AreDroppedAndCounted()
    {
        await using var cluster = await VpnCluster.CreateAsync(3);
        await cluster.StartAllAsync();
        var a = cluster.Vpns.Select(v => v.Address!).ToArray();

        // Locally: a source that is not ours, and a destination nobody has.
        await cluster.Devices[1].SendAsync(Packets.IPv4(a[2], a[0], [1]));
        await cluster.Devices[1].SendAsync(Packets.IPv4(a[1], IPAddress.Parse("10.50.0.200"), [2]));
        await VpnCluster.WaitUntilAsync(() => cluster.Vpns[1].GetStatistics().DropCount(VpnDropReason.Spoofed) == 1
            && cluster.Vpns[1].GetStatistics().DropCount(VpnDropReason.Unroutable) == 1);

        // On the wire: member 1 forges member 0's source in a raw data stream to member 2.
        using var cts = new CancellationTokenSource(Timeout);
        var stream = await cluster.Hosts[1].OpenStreamAsync(cluster.Hosts[2].PeerId, cluster.Vpns[2].IpProtocol, cts.Token);
        await using (stream)
        {
            PacketFraming.Write(stream.Output, Packets.IPv4(a[0], a[2], [3]));
            PacketFraming.Write(stream.Output, Packets.IPv4(a[1], a[0], [4]));  // not for member 2
            PacketFraming.Write(stream.Output, Packets.IPv4(a[1], a[2], [5]));  // fine
            await stream.Output.FlushAsync(cts.Token);
            var delivered = await cluster.Devices[2].ReceiveAsync(cts.Token);
            Assert.Equal(5, delivered[20]);
        }
        var stats = cluster.Vpns[2].GetStatistics();
        Assert.Equal(1, stats.DropCount(VpnDropReason.Spoofed));
        Assert.Equal(1, stats.DropCount(VpnDropReason.Unroutable));
        Assert.False(cluster.Devices[2].TryReceive(out _));
    }

    [Fact]
    public async Task AddAndRemove_UpdateEveryTable_WithoutDisturbingExistingMembers()
    {
        await using var cluster = await VpnCluster.CreateAsync(4);
        using var cts = new CancellationTokenSource(Timeout);
        var coordinator = cluster.Coordinator;
        await coordinator.StartAsync([new VpnMemberRequest(cluster.Hosts[1].PeerId, IPAddress.Parse("10.50.0.7"))], cts.Token);
        await cluster.Member(1).JoinAsync(cluster.CoordinatorAddress, null, cts.Token);
        Assert.Equal(IPAddress.Parse("10.50.0.7"), cluster.Vpns[1].Address);

        // Requested and free: granted. Requested but taken: lowest free.
        Assert.Equal(IPAddress.Parse("10.50.0.9"), await coordinator.AddPeerAsync(cluster.Hosts[2].PeerId, IPAddress.Parse("10.50.0.9"), cts.Token));
        Assert.Equal(IPAddress.Parse("10.50.0.2"), await coordinator.AddPeerAsync(cluster.Hosts[3].PeerId, IPAddress.Parse("10.50.0.7"), cts.Token));
        await cluster.Member(2).JoinAsync(cluster.CoordinatorAddress, null, cts.Token);
        await cluster.Member(3).JoinAsync(cluster.CoordinatorAddress, IPAddress.Parse("10.50.0.100"), cts.Token);
        await VpnCluster.WaitUntilAsync(() => cluster.Vpns.All(v => v.RoutingTable!.Members.Count == 4 && v.RoutingTable.Version == coordinator.RoutingTable!.Version));
        Assert.Equal(IPAddress.Parse("10.50.0.7"), cluster.Vpns[1].Address);
        Assert.Equal(IPAddress.Parse("10.50.0.2"), cluster.Vpns[3].Address);

        // Traffic 1 → 3 works, then 3 is removed everywhere and can no longer reach anyone.
        await cluster.Devices[1].SendAsync(Packets.IPv4(cluster.Vpns[1].Address!, cluster.Vpns[3].Address!, [1]));
        Assert.Equal(1, (await cluster.Devices[3].ReceiveAsync(cts.Token))[20]);
        var removedAddress = cluster.Vpns[3].Address!;
        Assert.True(await coordinator.RemovePeerAsync(cluster.Hosts[3].PeerId, cts.Token));
        await VpnCluster.WaitUntilAsync(() => cluster.Vpns.Take(3).All(v => v.RoutingTable!.Members.Count == 3) && cluster.Vpns[3].Address is null);
        Assert.Equal(IPAddress.Parse("10.50.0.7"), cluster.Vpns[1].Address);

        await cluster.Devices[3].SendAsync(Packets.IPv4(removedAddress, cluster.Vpns[1].Address!, [2]));
        await cluster.Devices[1].SendAsync(Packets.IPv4(cluster.Vpns[1].Address!, removedAddress, [3]));
        await VpnCluster.WaitUntilAsync(() => cluster.Vpns[1].GetStatistics().DropCount(VpnDropReason.Unroutable) >= 1);
        // And a raw stream from the removed peer is refused.
        try
        {
            var stream = await cluster.Hosts[3].OpenStreamAsync(cluster.Hosts[1].PeerId, cluster.Vpns[1].IpProtocol, cts.Token);
            await using (stream)
            {
                PacketFraming.Write(stream.Output, Packets.IPv4(removedAddress, cluster.Vpns[1].Address!, [4]));
                await stream.Output.FlushAsync(cts.Token);
                await stream.Input.ReadAsync(cts.Token); // ends or throws once refused
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
        }
        // The removed member's own VPN dropped its packet (it has no address and no routes any more), and the raw stream
        // was refused before anything on it was read: nothing can still be on its way to member 1.
        await VpnCluster.WaitUntilAsync(() => cluster.Vpns[3].GetStatistics() is var s3
            && s3.DropCount(VpnDropReason.Spoofed) + s3.DropCount(VpnDropReason.Unroutable) >= 1);
        Assert.False(cluster.Devices[1].TryReceive(out _));

        // The freed address is handed out again.
        Assert.Equal(IPAddress.Parse("10.50.0.2"), await coordinator.AddPeerAsync(cluster.Hosts[3].PeerId, null, cts.Token));
    }

    [Fact]
    public async Task DataStream_FromAPeerNotYetInTheTable_IsServedOnceATableNamesIt()
    {
        // The peer that admits a member dials it at once, often before the member has applied the table from its own
        // join: the stream waits for the table instead of being refused (which cost the first packets a redial).
        await using var cluster = await VpnCluster.CreateAsync(3);
        using var cts = new CancellationTokenSource(Timeout);
        var coordinator = cluster.Coordinator;
        await coordinator.StartAsync([new VpnMemberRequest(cluster.Hosts[1].PeerId, IPAddress.Parse("10.50.0.7"))], cts.Token);
        await cluster.Member(1).JoinAsync(cluster.CoordinatorAddress, null, cts.Token);

        await cluster.Hosts[2].DialAsync(cluster.Hosts[1].ListenAddresses[0].WithPeerId(cluster.Hosts[1].PeerId), cts.Token);
        var stream = await cluster.Hosts[2].OpenStreamAsync(cluster.Hosts[1].PeerId, cluster.Vpns[1].IpProtocol, cts.Token);
        await using (stream)
        {
            PacketFraming.Write(stream.Output, Packets.IPv4(IPAddress.Parse("10.50.0.9"), IPAddress.Parse("10.50.0.7"), [42]));
            await stream.Output.FlushAsync(cts.Token);
            Assert.False(cluster.Devices[1].TryReceive(out _)); // not a member yet: nothing delivered
            Assert.Equal(IPAddress.Parse("10.50.0.9"), await coordinator.AddPeerAsync(cluster.Hosts[2].PeerId, IPAddress.Parse("10.50.0.9"), cts.Token));

            var delivered = await cluster.Devices[1].ReceiveAsync(cts.Token);
            Assert.Equal(42, delivered[20]);
            Assert.Equal(IPAddress.Parse("10.50.0.9"), new IPAddress(delivered.AsSpan(12, 4)));
        }
    }

    [Fact]
    public async Task DataStreams_FromAPeerNoTableNames_AreAllRefused_AndDeliverNothing()
    {
        // Hostile: a peer that is never admitted floods a member with data streams. Sixteen wait for a table at most
        // 2 s, the rest are refused at once; every one ends, and none delivers a packet.
        await using var cluster = await VpnCluster.CreateAsync(3);
        using var cts = new CancellationTokenSource(Timeout);
        await cluster.Coordinator.StartAsync([new VpnMemberRequest(cluster.Hosts[1].PeerId, IPAddress.Parse("10.50.0.7"))], cts.Token);
        await cluster.Member(1).JoinAsync(cluster.CoordinatorAddress, null, cts.Token);
        await cluster.Hosts[2].DialAsync(cluster.Hosts[1].ListenAddresses[0].WithPeerId(cluster.Hosts[1].PeerId), cts.Token);

        var ended = Enumerable.Range(0, 24).Select(async n =>
        {
            var stream = await cluster.Hosts[2].OpenStreamAsync(cluster.Hosts[1].PeerId, cluster.Vpns[1].IpProtocol, cts.Token);
            await using (stream)
            {
                PacketFraming.Write(stream.Output, Packets.IPv4(IPAddress.Parse("10.50.0.9"), IPAddress.Parse("10.50.0.7"), [(byte)n]));
                await stream.Output.FlushAsync(cts.Token);
                try
                {
                    while (true)
                    {
                        var result = await stream.Input.ReadAsync(cts.Token);
                        stream.Input.AdvanceTo(result.Buffer.End);
                        if (result.IsCompleted)
                        {
                            break;
                        }
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // refused: reset
                }
            }
        }).ToArray();
        await Task.WhenAll(ended).WaitAsync(Timeout);

        Assert.False(cluster.Devices[1].TryReceive(out _));
    }

    [Fact]
    public async Task Join_WhenNotOnAllowList_IsRefused()
    {
        await using var cluster = await VpnCluster.CreateAsync(2);
        using var cts = new CancellationTokenSource(Timeout);
        await cluster.Coordinator.StartAsync([], cts.Token);
        var e = await Assert.ThrowsAsync<VpnJoinRejectedException>(() => cluster.Member(1).JoinAsync(cluster.CoordinatorAddress, null, cts.Token));
        Assert.Contains("allow list", e.Message, StringComparison.Ordinal);
        cluster.Coordinator.Allow(cluster.Hosts[1].PeerId, IPAddress.Parse("10.50.0.33"));
        await using var retry = new VpnMember(cluster.Hosts[1], new UserSpacePacketDevice(), new VpnOptions());
        await retry.JoinAsync(cluster.CoordinatorAddress, null, cts.Token);
        Assert.Equal(IPAddress.Parse("10.50.0.33"), retry.Address);
    }

    [Fact]
    public async Task Tables_FromAnotherPeerOrOlderVersion_AreIgnored()
    {
        await using var cluster = await VpnCluster.CreateAsync(3);
        await cluster.StartAllAsync();
        using var cts = new CancellationTokenSource(Timeout);
        var current = cluster.Vpns[2].RoutingTable!;

        // Member 1 signs a table claiming to be newer and pushes it to member 2.
        var forged = current with { Version = current.Version + 10, Coordinator = cluster.Hosts[1].PeerId, Members = [] };
        await PushAsync(cluster, 1, 2, TableCodec.Sign(forged, cluster.Hosts[1].Options.Identity!), cts.Token);
        // A replay of an older table genuinely signed by the coordinator.
        var old = current with { Version = current.Version - 1, Members = [] };
        await PushAsync(cluster, 0, 2, TableCodec.Sign(old, cluster.Hosts[0].Options.Identity!), cts.Token);
        // A coordinator-signed table relayed by another peer.
        await PushAsync(cluster, 1, 2, TableCodec.Sign(current with { Version = current.Version + 5, Members = [] }, cluster.Hosts[0].Options.Identity!), cts.Token);
        Assert.Equal(current.Version, cluster.Vpns[2].RoutingTable!.Version);
        Assert.Equal(3, cluster.Vpns[2].RoutingTable!.Members.Count);
    }

    [Fact]
    public async Task Packets_ToAnAbsentPeer_AreBoundedAndCounted()
    {
        await using var cluster = await VpnCluster.CreateAsync(2, configure: o => o.PeerQueueCapacity = 8);
        await cluster.StartAllAsync();
        using var cts = new CancellationTokenSource(Timeout);
        using var ghostKey = PrivateKey.GenerateEd25519();
        var ghost = await cluster.Coordinator.AddPeerAsync(ghostKey.PublicKey.ToPeerId(), null, cts.Token);
        for (int i = 0; i < 50; i++)
        {
            await cluster.Devices[0].SendAsync(Packets.IPv4(cluster.Vpns[0].Address!, ghost, [(byte)i]));
        }
        await VpnCluster.WaitUntilAsync(() => cluster.Vpns[0].GetStatistics().DropCount(VpnDropReason.QueueFull) >= 42);
    }

    private static async Task PushAsync(VpnCluster cluster, int from, int to, SignedRoutingTable table, CancellationToken ct)
    {
        var stream = await cluster.Hosts[from].OpenStreamAsync(cluster.Hosts[to].PeerId, cluster.Vpns[to].ControlProtocol, ct);
        await using (stream)
        {
            await LengthPrefixed.WriteAsync(stream.Output, new ControlMessage { Table = table }.ToByteArray(), ct);
            await stream.CompleteWritesAsync(ct);
            try
            {
                while (!(await stream.Input.ReadAsync(ct)).IsCompleted)
                {
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
            }
        }
    }
}
