using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using P2PNet.Testing;
using P2PNet.Vpn.Gateway;
using P2PNet.Vpn.Internal;
using P2PNet.Vpn.NetStack.Internal;

namespace P2PNet.Vpn.Tests.Gateway;

/// <summary>Garbage and floods from a member: every bad packet is dropped and counted by reason, nothing grows past its
/// bound, and the egress still answers afterwards.</summary>
public class RootlessEgressHostileInputTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task MalformedPackets_AreCountedByReason_AndTheLoopStaysAlive()
    {
        await using var pair = await EgressPair.StartAsync(clientStack: false);
        uint loopback = EgressPair.Value(IPAddress.Loopback);
        var before = pair.Egress.GetStatistics();

        byte[] ipv6 = new byte[40];
        ipv6[0] = 0x60;
        await pair.SendRawAsync(ipv6);
        await pair.SendRawAsync(new byte[] { 0x45, 0, 0 }); // truncated header
        byte[] badHeader = EgressPair.UdpDatagram(EgressPair.Member, 5000, loopback, 9, "x"u8);
        badHeader[10] ^= 0xFF;
        await pair.SendRawAsync(badHeader);
        byte[] badUdp = EgressPair.UdpDatagram(EgressPair.Member, 5000, loopback, 9, "x"u8);
        badUdp[^1] ^= 0xFF;
        await pair.SendRawAsync(badUdp);
        byte[] longUdp = EgressPair.UdpDatagram(EgressPair.Member, 5000, loopback, 9, "x"u8);
        BinaryPrimitives.WriteUInt16BigEndian(longUdp.AsSpan(24), 200); // UDP length beyond the packet
        await pair.SendRawAsync(longUdp);
        byte[] shortTcp = EgressPair.TcpSegment(EgressPair.Member, 40000, loopback, 80, 1, 0, TcpFlags.Syn)[..30];
        BinaryPrimitives.WriteUInt16BigEndian(shortTcp.AsSpan(2), 30);
        shortTcp[10] = shortTcp[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(shortTcp.AsSpan(10), Segmenter.Finish(Segmenter.Sum(shortTcp.AsSpan(0, 20))));
        await pair.SendRawAsync(shortTcp);
        byte[] badTcp = EgressPair.TcpSegment(EgressPair.Member, 40000, loopback, 80, 1, 0, TcpFlags.Syn);
        badTcp[36] ^= 0x01;
        await pair.SendRawAsync(badTcp);
        byte[] badIcmp = EgressPair.EchoRequest(EgressPair.Member, loopback, 1, 1, "ping"u8);
        badIcmp[^1] ^= 0x01;
        await pair.SendRawAsync(badIcmp);
        byte[] gre = EgressPair.UdpDatagram(EgressPair.Member, 5000, loopback, 9, "x"u8);
        gre[9] = 47;
        gre[10] = gre[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(gre.AsSpan(10), Segmenter.Finish(Segmenter.Sum(gre.AsSpan(0, 20))));
        await pair.SendRawAsync(gre);

        // Still alive: the local address answers an echo request sent after the garbage.
        uint local = EgressPair.Value(EgressPair.GatewayAddress);
        await pair.SendRawAsync(EgressPair.EchoRequest(EgressPair.Member, local, 9, 9, "alive"u8));
        RootlessEgressTests.AssertEchoReply(await pair.ReadRawAsync(Short), EgressPair.GatewayAddress, 9, 9, "alive"u8.ToArray());

        var stats = pair.Egress.GetStatistics();
        Assert.Equal(1, stats.DropCount(RootlessEgressDropReason.UnsupportedVersion));
        Assert.Equal(3, stats.DropCount(RootlessEgressDropReason.Malformed)); // truncated IP, UDP length, TCP header
        Assert.Equal(4, stats.DropCount(RootlessEgressDropReason.BadChecksum)); // IP header, UDP, TCP, ICMP
        Assert.Equal(1, stats.DropCount(RootlessEgressDropReason.UnsupportedProtocol));
        Assert.Equal(before.PacketsReceived + 10, stats.PacketsReceived);
        Assert.Equal(0, stats.UdpFlowsOpen + stats.TcpFlowsOpen);
        Assert.Equal(0, pair.Egress.InternalErrors);
    }

    [Fact]
    public async Task ArbitraryBytes_WithPlausibleHeaders_NeverTripTheEgress()
    {
        await using var pair = await EgressPair.StartAsync(new RootlessEgressOptions { MaxUdpFlows = 8, MaxDestinations = 4 }, clientStack: false);
        var random = new Random(11);
        byte[] closedLoopback = IPAddress.Loopback.GetAddressBytes();
        for (int i = 0; i < 3000; i++)
        {
            byte[] bytes = new byte[random.Next(1, 200)];
            random.NextBytes(bytes);
            if (bytes.Length >= 20 && i % 4 != 0)
            {
                bytes[0] = 0x45;
                BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(2), (ushort)bytes.Length);
                bytes[6] = (byte)(i % 8 == 1 ? 0x20 : 0x40); // some claim to be fragments
                bytes[7] = 0;
                bytes[9] = (byte)(bytes[9] % 3 switch { 0 => 6, 1 => 17, _ => 1 });
                EgressPair.MemberAddress.GetAddressBytes().CopyTo(bytes, 12);
                closedLoopback.CopyTo(bytes, 16);
                bytes[10] = bytes[11] = 0;
                BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(10), Segmenter.Finish(Segmenter.Sum(bytes.AsSpan(0, 20))));
            }
            await pair.SendRawAsync(bytes);
            if (i % 256 == 255)
            {
                // The device's queue holds 1024 packets and drops beyond: let the egress catch up.
                await Conditions.WaitUntilAsync(() => pair.Egress.GetStatistics().PacketsReceived == i + 1, Short,
                    () => $"the egress took {pair.Egress.GetStatistics().PacketsReceived} of {i + 1} packets");
            }
        }
        await Conditions.WaitUntilAsync(() => pair.Egress.GetStatistics().PacketsReceived == 3000, Short,
            () => $"the egress took {pair.Egress.GetStatistics().PacketsReceived} of 3000 packets");
        Assert.Equal(0, pair.Device.ReceiveDrops);
        Assert.Equal(0, pair.Egress.InternalErrors);
        Assert.True(pair.Egress.GetStatistics().TotalDrops > 2000);
    }

    [Fact]
    public async Task SynFlood_ToManyDestinationsAndPorts_StaysWithinTheLimits()
    {
        var options = new RootlessEgressOptions { MaxDestinations = 4, MaxTcpFlows = 16, MaxPendingConnects = 8 };
        await using var pair = await EgressPair.StartAsync(options, clientStack: false);
        using var server = new TcpListener(IPAddress.Loopback, 0);
        server.Start();
        int open = ((IPEndPoint)server.LocalEndpoint).Port;
        long maxDestinations = 0;
        long maxFlows = 0;
        for (int i = 0; i < 400; i++)
        {
            // 127.0.0.0/8 is all loopback: 40 destinations, ports open and closed.
            uint destination = EgressPair.Value(IPAddress.Loopback) + (uint)(i % 40);
            ushort port = (ushort)(i % 3 == 0 ? open : 1 + (i % 1000));
            await pair.SendRawAsync(EgressPair.TcpSegment(EgressPair.Member, (ushort)(20000 + i), destination, port, (uint)i * 7919, 0, TcpFlags.Syn));
            var stats = pair.Egress.GetStatistics();
            maxDestinations = Math.Max(maxDestinations, stats.TcpDestinations);
            maxFlows = Math.Max(maxFlows, stats.TcpFlowsOpen);
        }
        await Conditions.WaitUntilAsync(() => pair.Egress.GetStatistics().PacketsReceived == 400, Short, "the egress takes every SYN");
        var after = pair.Egress.GetStatistics();
        Assert.True(maxDestinations <= options.MaxDestinations, $"{maxDestinations} destinations at once");
        Assert.True(maxFlows <= options.MaxTcpFlows, $"{maxFlows} flows at once");
        // Every SYN is either a flow or a counted drop. Whether the destination limit is reached depends on how fast the
        // loopback refusals free destinations (a refused flow leaves its destination idle, and an idle one makes room):
        // the bounds above are the point, the limit's own test (RootlessEgressTests) fills it deterministically.
        Assert.Equal(400, after.TcpFlowsTotal + after.TotalDrops);
        Assert.Equal(0, pair.Egress.InternalErrors);
        // The accepted flows wait for the member's ACK, which never comes: they end after the connect timeout at most.
        Assert.True(after.TcpFlowsTotal > 0);
    }

    [Fact]
    public async Task SegmentForNoConnection_IsAnsweredWithReset_FromTheDestination()
    {
        await using var pair = await EgressPair.StartAsync(clientStack: false);
        uint loopback = EgressPair.Value(IPAddress.Loopback);
        await pair.SendRawAsync(EgressPair.TcpSegment(EgressPair.Member, 40000, loopback, 80, 5000, 777, TcpFlags.Ack));
        byte[] reset = await pair.ReadRawAsync(Short);
        Assert.Equal(loopback, BinaryPrimitives.ReadUInt32BigEndian(reset.AsSpan(12)));
        Assert.Equal((byte)TcpFlags.Rst, reset[33]);
        Assert.Equal(777u, BinaryPrimitives.ReadUInt32BigEndian(reset.AsSpan(24)));
        Assert.Equal(1, pair.Egress.GetStatistics().DropCount(RootlessEgressDropReason.TcpRejected));
    }
}
