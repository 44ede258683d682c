using System.Net;
using P2PNet.Vpn.Gateway;

namespace P2PNet.Vpn.Tests.Gateway;

/// <summary>The gateway in the data plane, on user-space devices: member 0 (coordinator, the requestor), member 1 the
/// gateway at the table's gateway address, member 2 another member that is not an allowed requestor.</summary>
public class VpnGatewayRoutingTests
{
    private static readonly IPAddress GatewayIp = IPAddress.Parse("10.50.0.7");
    private static readonly IPAddress Internet = IPAddress.Parse("203.0.113.5");

    private static async Task<VpnCluster> StartAsync(VpnEgressOptions egress)
    {
        var cluster = await VpnCluster.CreateAsync(3, configure: o => o.Gateway = GatewayIp,
            configureEach: (i, o) => o.Address = i == 1 ? GatewayIp : o.Address);
        egress.AllowedRequestors.Add(cluster.Hosts[0].PeerId);
        cluster.Vpns[1].Egress = new VpnEgress(egress);
        using var cts = new CancellationTokenSource(VpnCluster.Timeout);
        await cluster.Coordinator.StartAsync([new VpnMemberRequest(cluster.Hosts[1].PeerId, GatewayIp), new VpnMemberRequest(cluster.Hosts[2].PeerId)], cts.Token);
        await cluster.Member(1).JoinAsync(cluster.CoordinatorAddress, GatewayIp, cts.Token);
        await cluster.Member(2).JoinAsync(cluster.CoordinatorAddress, null, cts.Token);
        await VpnCluster.WaitUntilAsync(() => cluster.Vpns.All(v => v.RoutingTable?.Version == cluster.Vpns[0].RoutingTable!.Version));
        await cluster.WaitForDataStreamAsync(0, 1);
        await cluster.WaitForDataStreamAsync(2, 1);
        await cluster.WaitForDataStreamAsync(0, 2);
        return cluster;
    }

    [Fact]
    public async Task RequestorPackets_ForTheInternet_GoToTheGateway_AndItsAnswersComeBack_CountedAsUsage()
    {
        await using var cluster = await StartAsync(new VpnEgressOptions());
        using var cts = new CancellationTokenSource(VpnCluster.Timeout);
        var requestor = cluster.Vpns[0].Address!;
        Assert.True(cluster.Vpns[1].IsGateway);
        Assert.False(cluster.Vpns[0].IsGateway);
        Assert.Equal(GatewayIp, cluster.Vpns[2].RoutingTable!.Gateway);

        byte[] request = Packets.IPv4(requestor, Internet, [0x30, 0x39, 0, 53, 1, 2, 3]);
        await cluster.Devices[0].SendAsync(request, cts.Token);
        Assert.Equal(request, await cluster.Devices[1].ReceiveAsync(cts.Token));

        // The gateway's side (a kernel's masquerade or the rootless egress) answers from the Internet address.
        byte[] answer = Packets.IPv4(Internet, requestor, [0, 53, 0x30, 0x39, 9, 9]);
        await cluster.Devices[1].SendAsync(answer, cts.Token);
        Assert.Equal(answer, await cluster.Devices[0].ReceiveAsync(cts.Token));

        var usage = Assert.Single(cluster.Vpns[1].Egress!.GetUsage());
        Assert.Equal(cluster.Hosts[0].PeerId, usage.Requestor);
        Assert.Equal(request.Length, usage.BytesOut);
        Assert.Equal(answer.Length, usage.BytesIn);
        Assert.Equal(3, usage.ToUsageVector().Count);
    }

    [Fact]
    public async Task RefusedDestinations_AndMembersThatAreNotRequestors_AreDroppedAtTheGateway_AndCounted()
    {
        await using var cluster = await StartAsync(new VpnEgressOptions { AllowedDestinations = { VpnEgressDestination.Parse("203.0.113.0/24:53") } });
        using var cts = new CancellationTokenSource(VpnCluster.Timeout);
        var requestor = cluster.Vpns[0].Address!;
        var other = cluster.Vpns[2].Address!;
        // Private, loopback, link-local (cloud metadata), CGNAT, multicast: refused by the default policy; port 80 is not
        // on the allow list; the other member is not an allowed requestor.
        foreach (var (source, destination, port) in new[]
        {
            (requestor, "192.168.1.1", 53), (requestor, "127.0.0.1", 53), (requestor, "169.254.169.254", 53), (requestor, "100.64.0.1", 53),
            (requestor, "224.0.0.1", 53), (requestor, "203.0.113.5", 80), (other, "203.0.113.5", 53),
        })
        {
            await cluster.Devices[source == requestor ? 0 : 2].SendAsync(Packets.IPv4(source, IPAddress.Parse(destination), [0, 1, 0, (byte)port]), cts.Token);
        }
        // An allowed one after them arrives alone.
        byte[] allowed = Packets.IPv4(requestor, Internet, [0, 1, 0, 53, 7]);
        await cluster.Devices[0].SendAsync(allowed, cts.Token);
        Assert.Equal(allowed, await cluster.Devices[1].ReceiveAsync(cts.Token));
        Assert.False(cluster.Devices[1].TryReceive(out _));
        await VpnCluster.WaitUntilAsync(() => cluster.Vpns[1].GetStatistics().DropCount(VpnDropReason.EgressRefused) == 7);
        var egress = cluster.Vpns[1].Egress!;
        Assert.Equal(6, egress.RefusedDestination);
        Assert.Equal(1, egress.RefusedRequestor);
        Assert.Equal(6, egress.GetUsage().Single().PacketsRefused);
    }

    [Fact]
    public async Task PacketsFromOutsideTheNetwork_AreAcceptedOnlyFromTheGateway()
    {
        await using var cluster = await StartAsync(new VpnEgressOptions());
        using var cts = new CancellationTokenSource(VpnCluster.Timeout);
        var requestor = cluster.Vpns[0].Address!;
        // Member 2 is no gateway: a packet it claims comes from the Internet is spoofed (dropped when it leaves member 2).
        await cluster.Devices[2].SendAsync(Packets.IPv4(Internet, requestor, [1]), cts.Token);
        await VpnCluster.WaitUntilAsync(() => cluster.Vpns[2].GetStatistics().DropCount(VpnDropReason.Spoofed) == 1);
        // Without an egress the gateway member forwards nothing.
        cluster.Vpns[1].Egress = null;
        await cluster.Devices[0].SendAsync(Packets.IPv4(requestor, Internet, [0, 1, 0, 53]), cts.Token);
        await cluster.Devices[1].SendAsync(Packets.IPv4(Internet, requestor, [2]), cts.Token);
        await VpnCluster.WaitUntilAsync(() => cluster.Vpns[1].GetStatistics().DropCount(VpnDropReason.EgressRefused) == 1
            && cluster.Vpns[1].GetStatistics().DropCount(VpnDropReason.Spoofed) == 1);
        Assert.False(cluster.Devices[0].TryReceive(out _));
        Assert.False(cluster.Devices[1].TryReceive(out _));
    }

    [Fact]
    public async Task BandwidthLimit_DropsARequestorsPacketsOverItsRate()
    {
        var clock = new P2PNet.Testing.ManualTimeProvider();
        var cluster = await VpnCluster.CreateAsync(2, configure: o => o.Gateway = GatewayIp,
            configureEach: (i, o) => o.Address = i == 1 ? GatewayIp : o.Address);
        await using (cluster)
        {
            var options = new VpnEgressOptions { BytesPerSecondPerRequestor = 1000 };
            options.AllowedRequestors.Add(cluster.Hosts[0].PeerId);
            cluster.Vpns[1].Egress = new VpnEgress(options, clock);
            using var cts = new CancellationTokenSource(VpnCluster.Timeout);
            await cluster.Coordinator.StartAsync([new VpnMemberRequest(cluster.Hosts[1].PeerId, GatewayIp)], cts.Token);
            await cluster.Member(1).JoinAsync(cluster.CoordinatorAddress, GatewayIp, cts.Token);
            await cluster.WaitForDataStreamAsync(0, 1);
            var requestor = cluster.Vpns[0].Address!;
            // 1,000 bytes of tokens (debt allowed): 3 packets of 420 bytes pass (1000 → 580 → 160 → -260), the rest wait.
            for (int i = 0; i < 6; i++)
            {
                await cluster.Devices[0].SendAsync(Packets.IPv4(requestor, Internet, new byte[400]), cts.Token);
            }
            for (int i = 0; i < 3; i++)
            {
                await cluster.Devices[1].ReceiveAsync(cts.Token);
            }
            await VpnCluster.WaitUntilAsync(() => cluster.Vpns[1].Egress!.RefusedRate == 3);
            clock.Advance(TimeSpan.FromSeconds(1));
            await cluster.Devices[0].SendAsync(Packets.IPv4(requestor, Internet, new byte[400]), cts.Token);
            await cluster.Devices[1].ReceiveAsync(cts.Token);
        }
    }
}
