using System.Buffers;
using System.Net;
using System.Net.Sockets;
using P2PNet.Testing.IO;
using P2PNet.Testing.Networking;
using P2PNet.Vpn.Internal;
using P2PNet.Vpn.Tun;

namespace P2PNet.Vpn.Tests;

/// <summary>
/// A TUN device opened with IFF_VNET_HDR and offloads, in a network namespace of its own, against the kernel's UDP
/// segmentation offload (UDP_SEGMENT sockets, Linux 6.2+): one read returns a whole super-packet, the IPacketDevice
/// read returns it as finished datagrams, and a super-packet written with its header reaches a socket as datagrams.
/// Needs root, like the other kernel tests.
/// </summary>
[Collection(KernelTestGroup.Name)]
public class TunOffloadTests
{
    private const int UdpLevel = 17;      // SOL_UDP
    private const int UdpSegment = 103;   // UDP_SEGMENT (linux/udp.h)

    private static readonly IPAddress Local = IPAddress.Parse("10.69.0.1");
    private static readonly IPAddress Remote = IPAddress.Parse("10.69.0.2");

    private static byte[] Payload(int length, int seed) => Enumerable.Range(0, length).Select(i => (byte)(i * 13 + seed)).ToArray();

    [Fact]
    public async Task OffloadingTun_ReadsAUdpSuperPacketWhole_ServesItAsDatagrams_AndTakesOneBack()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await KernelTestRequirements.CheckAsync();
        await using var lab = await NamespaceLab.CreateAsync("vpn", cts.Token);
        string ns = lab.Hub; // a bare namespace is all this test needs
        {
            await using var tun = NamespaceLab.RunIn(ns, () => TunDevice.Create("p2vtun0"));
            Assert.True(tun.Offload);
            await lab.ExecAsync(ns, cts.Token, "ip", "addr", "add", "10.69.0.1/24", "dev", "p2vtun0");
            await lab.ExecAsync(ns, cts.Token, "ip", "link", "set", "p2vtun0", "mtu", "1420", "up");
            var device = (IOffloadPacketDevice)tun;

            using var sender = NamespaceLab.CreateSocket(ns, SocketType.Dgram, ProtocolType.Udp);
            sender.Bind(new IPEndPoint(Local, 0));
            sender.SetRawSocketOption(UdpLevel, UdpSegment, BitConverter.GetBytes(1000));

            // One send of 10 000 bytes with a 1000-byte segment size: one read of one super-packet.
            byte[] first = Payload(10_000, 1);
            await sender.SendToAsync(first, new IPEndPoint(Remote, 9), cts.Token);
            var buffer = new byte[64 * 1024];
            OffloadedPacket read;
            do
            {
                read = await Task.Run(async () => await device.ReadOffloadedAsync(buffer, cts.Token), cts.Token);
            }
            while (read.Length < 20 || buffer[0] >> 4 != 4 || buffer[9] != 17);
            Assert.True(read.Offload.Segmentation == SegmentationKind.Udp,
                "The kernel segmented the datagrams itself: UDP segmentation offload on TUN needs Linux 6.2 or later.");
            Assert.Equal(1000, read.Offload.SegmentSize);
            Assert.Equal(20 + 8 + first.Length, read.Length);
            var packet = buffer.AsSpan(0, read.Length).ToArray();
            Assert.True(read.Offload.IsValidFor(packet));
            var segments = SuperPackets.Segment(packet, read.Offload);
            Assert.Equal(10, segments.Count);
            Assert.All(segments, s => Assert.True(SuperPackets.ChecksumsVerify(s)));
            Assert.Equal(first, segments.SelectMany(s => s.AsSpan(28).ToArray()).ToArray());

            // Through IPacketDevice the same comes out as ten finished datagrams, one per read.
            byte[] second = Payload(10_000, 2);
            await sender.SendToAsync(second, new IPEndPoint(Remote, 9), cts.Token);
            var datagrams = new List<byte[]>();
            var small = new byte[1500];
            while (datagrams.Count < 10)
            {
                int length = await Task.Run(async () => await tun.ReadPacketAsync(small, cts.Token), cts.Token);
                if (length >= 28 && small[0] >> 4 == 4 && small[9] == 17)
                {
                    datagrams.Add(small.AsSpan(0, length).ToArray());
                }
            }
            Assert.All(datagrams, d => Assert.True(SuperPackets.ChecksumsVerify(d)));
            Assert.Equal(second, datagrams.SelectMany(d => d.AsSpan(28).ToArray()).ToArray());

            // The other way: a super-packet with a partial checksum, in three pieces, reaches a socket as ten datagrams.
            using var receiver = NamespaceLab.CreateSocket(ns, SocketType.Dgram, ProtocolType.Udp);
            receiver.Bind(new IPEndPoint(Local, 7000));
            byte[] third = Payload(10_000, 3);
            var (incoming, offload) = SuperPackets.Udp(third, 1000, source: Remote, destination: Local, sourcePort: 5000, destinationPort: 7000);
            var pieces = SequenceSegments.FromMemory(incoming.AsMemory(0, 10), incoming.AsMemory(10, 4000), incoming.AsMemory(4010));
            await device.WriteOffloadedAsync(pieces, offload, cts.Token);
            var delivered = new List<byte[]>();
            var receive = new byte[2000];
            while (delivered.Count < 10)
            {
                int n = await receiver.ReceiveAsync(receive, SocketFlags.None, cts.Token);
                delivered.Add(receive.AsSpan(0, n).ToArray());
            }
            Assert.All(delivered, d => Assert.Equal(1000, d.Length));
            Assert.Equal(third, delivered.SelectMany(d => d).ToArray());
        }
    }
}
