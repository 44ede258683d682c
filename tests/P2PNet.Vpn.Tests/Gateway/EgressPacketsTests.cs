using System.Buffers;
using System.Buffers.Binary;
using FsCheck;
using FsCheck.Xunit;
using P2PNet.Vpn.Gateway.Internal;
using P2PNet.Vpn.NetStack.Internal;

namespace P2PNet.Vpn.Tests.Gateway;

/// <summary>The egress's own packets: fragments of any datagram at any MTU reassemble to the datagram.</summary>
public class RootlessEgressPacketsTests
{
    [Property(MaxTest = 300)]
    public void UdpDatagram_FragmentedForAnyMtu_ReassemblesToTheSameDatagram(PositiveInt size, byte mtuStep, int seed)
    {
        int payloadLength = size.Get % 20000;
        int mtu = 576 + (mtuStep * 4);
        byte[] payload = new byte[payloadLength];
        new Random(seed).NextBytes(payload);
        byte[] whole = new byte[28 + payloadLength];
        int length = EgressPackets.WriteUdp(whole, 0x01020304, 53, 0x0A5A0002, 40000, payload, id: 99);
        Assert.True(IpPacket.TryParse(whole, out var parsed, out _));
        Assert.Equal(0, IpPacket.TransportChecksum(whole, parsed));

        int count = EgressPackets.FragmentCount(length, mtu);
        var reassembler = new Ipv4Reassembler(4, 1 << 20, 30_000);
        byte[] fragment = new byte[mtu];
        byte[]? result = null;
        int resultLength = 0;
        for (int i = count - 1; i >= 0; i--) // last first: order must not matter
        {
            int n = EgressPackets.WriteFragment(whole.AsSpan(0, length), i, mtu, fragment);
            Assert.True(n <= mtu, $"fragment {i} is {n} bytes for MTU {mtu}");
            Assert.True(IpPacket.TryParse(fragment.AsSpan(0, n), out var ip, out _), $"fragment {i} parses");
            if (count == 1)
            {
                Assert.False(ip.IsFragment);
                result = fragment[..n];
                resultLength = n;
                break;
            }
            Assert.True(ip.IsFragment);
            var outcome = reassembler.Add(fragment.AsSpan(0, n), ip, 0, out var datagram, out int datagramLength);
            Assert.Equal(i == 0 ? FragmentOutcome.Complete : FragmentOutcome.Held, outcome);
            if (outcome == FragmentOutcome.Complete)
            {
                result = datagram![..datagramLength];
                resultLength = datagramLength;
                ArrayPool<byte>.Shared.Return(datagram);
            }
        }
        Assert.Equal(length, resultLength);
        Assert.Equal(whole.AsSpan(20, length - 20).ToArray(), result!.AsSpan(20).ToArray());
        Assert.Equal(BinaryPrimitives.ReadUInt32BigEndian(whole.AsSpan(12)), BinaryPrimitives.ReadUInt32BigEndian(result.AsSpan(12)));
    }
}
