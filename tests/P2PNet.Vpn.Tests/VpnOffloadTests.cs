using System.Net;
using P2PNet.Crypto;
using P2PNet.Vpn.Internal;

namespace P2PNet.Vpn.Tests;

/// <summary>Super-packets (TSO/USO with partial checksums) through in-process networks: carried whole between offloading
/// devices on /p2pnet/vpn/ip/2.0.0, segmented in software for a device or a peer that cannot take them.</summary>
public class VpnOffloadTests
{
    private static readonly TimeSpan Timeout = VpnCluster.Timeout;

    private static byte[] Payload(int length) => Enumerable.Range(0, length).Select(i => (byte)(i * 7 + i / 251)).ToArray();

    private static (byte[] Packet, PacketOffload Offload) Tcp(VpnCluster cluster, int from, int to, byte[] payload, ushort mss = 1380) =>
        SuperPackets.Tcp(payload, mss, source: cluster.Vpns[from].Address, destination: cluster.Vpns[to].Address);

    private static async Task<List<byte[]>> ReceiveSegmentsAsync(UserSpacePacketDevice device, int count, CancellationToken ct)
    {
        var segments = new List<byte[]>();
        for (int i = 0; i < count; i++)
        {
            segments.Add(await device.ReceiveAsync(ct));
        }
        return segments;
    }

    private static byte[] TcpPayloads(IEnumerable<byte[]> segments) => [.. segments.SelectMany(s => s.AsSpan(40).ToArray())];

    [Fact]
    public async Task SuperPacket_ReachesAnOffloadingMemberWhole_AndAUserSpaceMemberAsVerifiedSegments()
    {
        var offloading = new[] { new OffloadTestDevice(), new OffloadTestDevice() };
        await using var cluster = await VpnCluster.CreateAsync(3, device: i => i < 2 ? offloading[i] : null);
        await cluster.StartAllAsync();
        using var cts = new CancellationTokenSource(Timeout);
        byte[] payload = Payload(60_000);

        var (toOffloading, offload) = Tcp(cluster, 1, 0, payload);
        await offloading[1].SendAsync(toOffloading, offload);
        var (received, receivedOffload) = await offloading[0].ReceiveAsync(cts.Token);
        Assert.Equal(toOffloading, received);
        Assert.Equal(offload, receivedOffload);

        var (toUserSpace, offload2) = Tcp(cluster, 1, 2, payload);
        await offloading[1].SendAsync(toUserSpace, offload2);
        var segments = await ReceiveSegmentsAsync(cluster.Devices[2], (payload.Length + 1379) / 1380, cts.Token);
        Assert.All(segments, s => Assert.True(SuperPackets.ChecksumsVerify(s)));
        Assert.All(segments, s => Assert.True(s.Length <= 1420));
        Assert.Equal(payload, TcpPayloads(segments));

        // And back: a finished packet from the user-space member reaches the offloading one as complete.
        await cluster.Devices[2].SendAsync(Packets.IPv4(cluster.Vpns[2].Address!, cluster.Vpns[1].Address!, [42]));
        var (plain, plainOffload) = await offloading[1].ReceiveAsync(cts.Token);
        Assert.Equal(42, plain[20]);
        Assert.True(plainOffload.IsComplete);
        Assert.Equal(0, cluster.Vpns.Sum(v => v.GetStatistics().Drops.Values.Sum()));
    }

    [Fact]
    public async Task SuperPacket_ToAPeerFromBefore2_0_0_IsSegmentedByTheSender()
    {
        // Member 1 speaks only /p2pnet/vpn/ip/1.0.0; its device could take offloads, so what it gets shows what the wire carried.
        var offloading = new[] { new OffloadTestDevice(), new OffloadTestDevice() };
        await using var cluster = await VpnCluster.CreateAsync(2, device: i => offloading[i], configureEach: (i, o) => o.LegacyFramingOnly = i == 1);
        await cluster.StartAllAsync();
        using var cts = new CancellationTokenSource(Timeout);
        byte[] payload = Payload(20_000);
        var (packet, offload) = Tcp(cluster, 0, 1, payload, mss: 1000);
        await offloading[0].SendAsync(packet, offload);
        var segments = new List<byte[]>();
        for (int i = 0; i < 20; i++)
        {
            var (segment, segmentOffload) = await offloading[1].ReceiveAsync(cts.Token);
            Assert.True(segmentOffload.IsComplete);
            Assert.True(SuperPackets.ChecksumsVerify(segment));
            segments.Add(segment);
        }
        Assert.Equal(payload, TcpPayloads(segments));

        // The old peer's own packets still reach the new one.
        await offloading[1].SendAsync(Packets.IPv4(cluster.Vpns[1].Address!, cluster.Vpns[0].Address!, [7]), default);
        Assert.Equal(7, (await offloading[0].ReceiveAsync(cts.Token)).Packet[20]);
    }

    [Fact]
    public async Task LinkWhoseFirstStreamSettledOn1_0_0_WithAPeerServing2_0_0_MovesTo2_0_0_AndCarriesSuperPacketsWhole()
    {
        // A member that learns the VPN id from its join's answer serves the data protocols only from then on, and the
        // coordinator dials it at about that moment: a proposal of 2.0.0 just before its handlers and one of 1.0.0 just
        // after settled the link on finished packets. The outcome of that race, made certain: each VPN's first data
        // stream is negotiated on 1.0.0 alone.
        var offloading = new[] { new OffloadTestDevice(), new OffloadTestDevice() };
        await using var cluster = await VpnCluster.CreateAsync(2, device: i => offloading[i]);
        int legacyOpens = 0;
        for (int i = 0; i < 2; i++)
        {
            var host = cluster.Hosts[i];
            var vpn = cluster.Vpns[i];
            int opened = 0;
            vpn.OpenDataStream = (peer, protocols, ct) =>
            {
                if (Interlocked.Increment(ref opened) == 1)
                {
                    Interlocked.Increment(ref legacyOpens);
                    return host.OpenStreamAsync(peer, [vpn.IpProtocol], ct);
                }
                return host.OpenStreamAsync(peer, protocols, ct);
            };
        }
        await cluster.StartAllAsync();
        // A packet each way at once, while the link may still be switching streams: none goes on the stream that the
        // dialer closes (the accepting side waits for the second negotiation before it sends).
        using (var first = new CancellationTokenSource(Timeout))
        {
            for (int from = 0; from < 2; from++)
            {
                await offloading[from].SendAsync(Packets.IPv4(cluster.Vpns[from].Address!, cluster.Vpns[1 - from].Address!, [(byte)(from + 1)]), default);
                Assert.Equal(from + 1, (await offloading[1 - from].ReceiveAsync(first.Token)).Packet[20]);
            }
        }
        await cluster.WaitForDataStreamAsync(0, 1);
        await VpnCluster.WaitUntilAsync(() =>
            cluster.Vpns[0].DataProtocolTo(cluster.Hosts[1].PeerId) == cluster.Vpns[0].OffloadIpProtocol
            && cluster.Vpns[1].DataProtocolTo(cluster.Hosts[0].PeerId) == cluster.Vpns[1].OffloadIpProtocol);
        Assert.Equal(1, legacyOpens); // the dialer's first stream was 1.0.0: the path under test ran

        using var cts = new CancellationTokenSource(Timeout);
        byte[] payload = Payload(60_000);
        for (int from = 0; from < 2; from++)
        {
            var (packet, offload) = Tcp(cluster, from, 1 - from, payload);
            await offloading[from].SendAsync(packet, offload);
            var (received, receivedOffload) = await offloading[1 - from].ReceiveAsync(cts.Token);
            Assert.Equal(packet, received);
            Assert.Equal(offload, receivedOffload);
        }
    }

    [Fact]
    public async Task SuperPackets_WithForgedSourceOrOffloadThatDoesNotFit_AreDroppedAndCounted()
    {
        var offloading = new OffloadTestDevice();
        await using var cluster = await VpnCluster.CreateAsync(3, device: i => i == 2 ? offloading : null);
        await cluster.StartAllAsync();
        using var cts = new CancellationTokenSource(Timeout);
        var a = cluster.Vpns.Select(v => v.Address!).ToArray();
        var stream = await cluster.Hosts[1].OpenStreamAsync(cluster.Hosts[2].PeerId, cluster.Vpns[2].OffloadIpProtocol, cts.Token);
        await using (stream)
        {
            var (spoofed, spoofedOffload) = SuperPackets.Tcp(Payload(5000), 1380, source: a[0], destination: a[2]);
            OffloadFraming.Write(stream.Output, spoofed, spoofedOffload);
            var (udp, _) = SuperPackets.Udp(Payload(5000), 0);
            udp.AsSpan(12, 4).Clear();
            a[1].GetAddressBytes().CopyTo(udp, 12);
            a[2].GetAddressBytes().CopyTo(udp, 16);
            OffloadFraming.Write(stream.Output, udp, new PacketOffload(true, 20, 16, SegmentationKind.TcpV4, 1380)); // claims TCP
            var (tiny, tinyOffload) = SuperPackets.Tcp(Payload(5000), 1, source: a[1], destination: a[2]);       // 5000 segments
            OffloadFraming.Write(stream.Output, tiny, tinyOffload);
            var (good, goodOffload) = SuperPackets.Tcp(Payload(5000), 1380, source: a[1], destination: a[2]);
            OffloadFraming.Write(stream.Output, good, goodOffload);
            await stream.Output.FlushAsync(cts.Token);
            var (delivered, deliveredOffload) = await offloading.ReceiveAsync(cts.Token);
            Assert.Equal(good, delivered);
            Assert.Equal(goodOffload, deliveredOffload);
        }
        var stats = cluster.Vpns[2].GetStatistics();
        Assert.Equal(1, stats.DropCount(VpnDropReason.Spoofed));
        Assert.Equal(2, stats.DropCount(VpnDropReason.Malformed));
    }

    [Fact]
    public async Task SuperPackets_ToAnAbsentPeer_CountTheirSizeAgainstTheQueue()
    {
        var offloading = new OffloadTestDevice();
        await using var cluster = await VpnCluster.CreateAsync(2, device: i => i == 0 ? offloading : null,
            configure: o => o.PeerQueueBytes = 256 * 1024);
        await cluster.StartAllAsync();
        using var cts = new CancellationTokenSource(Timeout);
        using var ghostKey = PrivateKey.GenerateEd25519();
        var ghost = await cluster.Coordinator.AddPeerAsync(ghostKey.PublicKey.ToPeerId(), null, cts.Token);
        for (int i = 0; i < 50; i++)
        {
            var (packet, offload) = SuperPackets.Tcp(Payload(60_000), 1380, source: cluster.Vpns[0].Address, destination: ghost);
            await offloading.SendAsync(packet, offload);
        }
        // 64 KiB buffers against 256 KiB: 4 fit, although the packet capacity (1024) is far away.
        await VpnCluster.WaitUntilAsync(() => cluster.Vpns[0].GetStatistics().DropCount(VpnDropReason.QueueFull) == 46);
    }
}
