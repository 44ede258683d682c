using System.Buffers.Binary;
using System.Net;
using P2PNet.Vpn.Gateway;
using P2PNet.Vpn.Internal;
using P2PNet.Vpn.NetStack;
using P2PNet.Vpn.NetStack.Internal;

namespace P2PNet.Vpn.Tests.Gateway;

/// <summary>
/// A <see cref="RootlessEgress"/> on the application end of a <see cref="UserSpacePacketDevice"/>, and the member on the
/// device itself, without any VPN: the two ends of one pipe. The member is either a client <see cref="IPStack"/>
/// (10.90.0.2) or, without one, the test writing and reading raw packets (<see cref="SendRawAsync"/>,
/// <see cref="ReadRawAsync"/>).
/// </summary>
internal sealed class EgressPair : IAsyncDisposable
{
    public static readonly IPAddress MemberAddress = IPAddress.Parse("10.90.0.2");
    public static readonly IPAddress GatewayAddress = IPAddress.Parse("10.90.0.1");
    public static readonly uint Member = BinaryPrimitives.ReadUInt32BigEndian(MemberAddress.GetAddressBytes());

    private EgressPair(UserSpacePacketDevice device, RootlessEgress egress, IPStack? client)
    {
        Device = device;
        Egress = egress;
        Client = client;
    }

    public UserSpacePacketDevice Device { get; }

    public RootlessEgress Egress { get; }

    /// <summary>The member's stack (null in raw mode).</summary>
    public IPStack? Client { get; }

    public IPStack Stack => Client ?? throw new InvalidOperationException("This pair has no client stack.");

    public static async Task<EgressPair> StartAsync(RootlessEgressOptions? options = null, bool clientStack = true)
    {
        var device = new UserSpacePacketDevice();
        await device.ConfigureAsync(MemberAddress, 24, 1420);
        options ??= new RootlessEgressOptions();
        options.LocalAddress ??= GatewayAddress;
        var egress = new RootlessEgress(device.ApplicationEnd, options);
        IPStack? client = null;
        if (clientStack)
        {
            client = new IPStack(device, MemberAddress, new NetStackOptions { Mtu = 1420 });
            await client.StartAsync();
        }
        await egress.StartAsync();
        return new EgressPair(device, egress, client);
    }

    /// <summary>Raw mode: delivers a packet to the egress as if the member sent it through the VPN.</summary>
    public ValueTask SendRawAsync(ReadOnlyMemory<byte> packet) => Device.WritePacketAsync(packet);

    /// <summary>Raw mode: the next packet the egress sent towards the member.</summary>
    public async Task<byte[]> ReadRawAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        byte[] buffer = new byte[65536];
        int n = await Device.ReadPacketAsync(buffer, cts.Token);
        return buffer[..n];
    }

    public async ValueTask DisposeAsync()
    {
        if (Client is not null)
        {
            await Client.DisposeAsync();
        }
        await Egress.DisposeAsync();
        await Device.DisposeAsync();
    }

    public static uint Value(IPAddress address) => BinaryPrimitives.ReadUInt32BigEndian(address.GetAddressBytes());

    /// <summary>An ICMP echo request from the member.</summary>
    public static byte[] EchoRequest(uint source, uint destination, ushort identifier, ushort sequence, ReadOnlySpan<byte> data)
    {
        byte[] packet = new byte[28 + data.Length];
        IpPacket.WriteIpv4Header(packet, source, destination, IpPacket.ProtocolIcmp, packet.Length, sequence);
        var icmp = packet.AsSpan(20);
        icmp[0] = 8;
        BinaryPrimitives.WriteUInt16BigEndian(icmp[4..], identifier);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[6..], sequence);
        data.CopyTo(icmp[8..]);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], Segmenter.Finish(Segmenter.Sum(icmp)));
        return packet;
    }

    /// <summary>A bare TCP segment (no options) from the member.</summary>
    public static byte[] TcpSegment(uint source, ushort sourcePort, uint destination, ushort destinationPort, uint seq, uint ack, TcpFlags flags)
    {
        byte[] packet = new byte[40];
        IpPacket.WriteIpv4Header(packet, source, destination, IpPacket.ProtocolTcp, packet.Length, 1);
        var tcp = packet.AsSpan(20);
        BinaryPrimitives.WriteUInt16BigEndian(tcp, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], destinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], seq);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], ack);
        tcp[12] = 5 << 4;
        tcp[13] = (byte)flags;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], 65535);
        IpPacket.WriteTransportChecksum(packet, 16, udp: false);
        return packet;
    }

    /// <summary>A UDP datagram from the member.</summary>
    public static byte[] UdpDatagram(uint source, ushort sourcePort, uint destination, ushort destinationPort, ReadOnlySpan<byte> payload)
    {
        byte[] packet = new byte[28 + payload.Length];
        IpPacket.WriteIpv4Header(packet, source, destination, IpPacket.ProtocolUdp, packet.Length, 1);
        var udp = packet.AsSpan(20);
        BinaryPrimitives.WriteUInt16BigEndian(udp, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], destinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)(8 + payload.Length));
        payload.CopyTo(udp[8..]);
        IpPacket.WriteTransportChecksum(packet, 6, udp: true);
        return packet;
    }
}
