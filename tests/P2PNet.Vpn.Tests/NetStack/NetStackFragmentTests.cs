using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using FsCheck;
using FsCheck.Xunit;
using P2PNet.Testing;
using P2PNet.Vpn.Internal;
using P2PNet.Vpn.NetStack;
using P2PNet.Vpn.NetStack.Internal;

namespace P2PNet.Vpn.Tests.NetStack;

/// <summary>IPv4 fragment reassembly (RFC 791/815, overlaps dropped as RFC 5722 does for IPv6), its bounds and timeout,
/// and the rate limit on ICMP errors (RFC 1812 §4.3.2.8), against a scripted peer (a stack that is not started).</summary>
public class NetStackFragmentTests
{
    private const ushort StackPort = 5353;
    private const ushort PeerPort = 40000;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    /// <summary>Any datagram cut into fragments at any 8-byte boundaries, arriving in any order and with duplicates,
    /// reaches the UDP socket as it was sent; every copy delivered is the original (duplicates after completion start
    /// a datagram anew, as in any IP stack), and nothing is dropped as an overlap.</summary>
    [Property(MaxTest = 200)]
    public async Task AnyDatagram_SplitIntoFragments_InAnyOrder_WithDuplicates_ReassemblesToTheOriginal(
        NonEmptyArray<byte> data, byte[] cutSeeds, int orderSeed, byte duplicates)
    {
        using var cts = new CancellationTokenSource(Timeout);
        await using var peer = new ScriptedPeer();
        using var udp = peer.Stack.BindUdp(StackPort);
        byte[] payload = Repeat(data.Get, 1 + (orderSeed & 0x7FF));
        byte[] packet = BuildUdp(payload, id: 7);
        var fragments = Fragment(packet, Cuts(packet.Length - 20, cutSeeds));
        var random = new Random(orderSeed);
        var arrivals = new List<byte[]>(fragments);
        for (int i = 0; i < duplicates % 8; i++)
        {
            arrivals.Add(fragments[random.Next(fragments.Count)]);
        }
        random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(arrivals));

        foreach (byte[] fragment in arrivals)
        {
            peer.Stack.Receive(fragment);
        }

        var buffer = new byte[70000];
        int delivered = 0;
        while (udp.QueuedCount > 0)
        {
            var datagram = await udp.ReceiveFromAsync(buffer, cts.Token);
            Assert.Equal(payload, buffer.AsSpan(0, datagram.Length).ToArray());
            delivered++;
        }
        Assert.True(delivered >= 1);
        Assert.Equal(delivered, peer.Stack.Reassembly.Reassembled);
        Assert.Equal(0, peer.Stack.Reassembly.DroppedByOverlap);
        Assert.Equal(0, peer.Stack.InternalErrors);
    }

    /// <summary>A fragment overlapping another (but not an exact duplicate of one) drops the datagram: nothing is
    /// delivered, and the drop is counted as an overlap.</summary>
    [Property(MaxTest = 200)]
    public async Task OverlappingFragments_DropTheDatagram_AndAreCountedAsOverlaps(
        NonEmptyArray<byte> data, byte[] cutSeeds, int orderSeed, ushort overlapStart, ushort overlapLength, byte position)
    {
        await using var peer = new ScriptedPeer();
        using var udp = peer.Stack.BindUdp(StackPort);
        byte[] payload = Repeat(data.Get, 16 + (orderSeed & 0x7FF));
        byte[] packet = BuildUdp(payload, id: 9);
        int total = packet.Length - 20;
        var cuts = Cuts(total, cutSeeds);
        var fragments = Fragment(packet, cuts);
        var bounds = new List<int> { 0 };
        bounds.AddRange(cuts);
        bounds.Add(total);
        // An MF fragment in 8-byte units within the datagram that is none of the real ones: it overlaps at least one.
        int start = overlapStart % (total / 8) * 8;
        int length = Math.Max(8, Math.Min(total - start, (overlapLength % 64 + 1) * 8) / 8 * 8);
        if (Enumerable.Range(0, bounds.Count - 1).Any(i => bounds[i] == start && bounds[i + 1] == start + length))
        {
            // It is a real fragment: take part of it, or it and a neighbour's first 8 bytes.
            if (length >= 16)
            {
                length -= 8;
            }
            else if (start + 16 <= total)
            {
                length = 16;
            }
            else
            {
                start -= 8;
                length = 16;
            }
        }
        Assert.True(length >= 8 && start + length <= total);
        byte[] overlap = FragmentOf(packet, start, length, more: true);
        // The overlap is seen only if both pieces are held at once (an overlapping piece arriving after its datagram
        // completed starts a new one): the overlapping fragment first, then a real one it overlaps, then the rest.
        var random = new Random(orderSeed);
        var overlapped = Enumerable.Range(0, fragments.Count).Where(i => bounds[i] < start + length && start < bounds[i + 1]).ToArray();
        int first = overlapped[position % overlapped.Length];
        var rest = fragments.Where((_, i) => i != first).ToArray();
        random.Shuffle(rest);
        var arrivals = new List<byte[]> { overlap, fragments[first] };
        arrivals.AddRange(rest);

        foreach (byte[] fragment in arrivals)
        {
            peer.Stack.Receive(fragment);
        }

        Assert.Equal(0, udp.QueuedCount);
        Assert.Equal(0, peer.Stack.Reassembly.Reassembled);
        Assert.True(peer.Stack.Reassembly.DroppedByOverlap >= 1);
        Assert.Equal(0, peer.Stack.InternalErrors);
    }

    /// <summary>A flood of datagrams that never complete holds at most the datagram and byte limits at every step;
    /// each one evicted is counted as dropped by limit, and a whole datagram still gets through afterwards.</summary>
    [Property(MaxTest = 50)]
    public async Task AFloodOfIncompleteDatagrams_StaysWithinTheLimits_CountsEveryEviction_AndLetsAWholeDatagramThrough(
        NonEmptyArray<ushort> sizes, byte maxDatagrams)
    {
        using var cts = new CancellationTokenSource(Timeout);
        var options = new NetStackOptions { MaxReassemblyDatagrams = 1 + (maxDatagrams % 16), MaxReassemblyBytes = 8192 };
        await using var peer = new ScriptedPeer(options);
        using var udp = peer.Stack.BindUdp(StackPort);
        var reassembly = peer.Stack.Reassembly;
        ushort id = 1000;
        foreach (ushort size in sizes.Get.Take(500))
        {
            int length = (size % 185 + 1) * 8; // 8..1480 bytes, an MF fragment
            byte[] packet = BuildUdp(new byte[length + 64], id++);
            peer.Stack.Receive(FragmentOf(packet, 0, length, more: true));
            Assert.True(reassembly.Count <= options.MaxReassemblyDatagrams);
            Assert.True(reassembly.HeldBytes <= options.MaxReassemblyBytes);
        }
        int flood = Math.Min(sizes.Get.Length, 500);
        Assert.Equal(flood - reassembly.Count, reassembly.DroppedByLimit);

        byte[] payload = Repeat([1, 2, 3], 3000);
        foreach (byte[] fragment in Fragment(BuildUdp(payload, id: 1), [1480, 2960]))
        {
            peer.Stack.Receive(fragment);
        }
        var buffer = new byte[4000];
        var datagram = await udp.ReceiveFromAsync(buffer, cts.Token);
        Assert.Equal(payload, buffer.AsSpan(0, datagram.Length).ToArray());
        Assert.Equal(1, reassembly.Reassembled);
    }

    [Fact]
    public async Task AFragmentReachingPast65535Bytes_DropsItsDatagram_AsOverTheLimit()
    {
        await using var peer = new ScriptedPeer();
        using var udp = peer.Stack.BindUdp(StackPort);
        byte[] packet = BuildUdp(new byte[2000], id: 3);
        peer.Stack.Receive(FragmentOf(packet, 0, 1000, more: true));
        byte[] last = FragmentOf(packet, 1000, 1000, more: false);
        BinaryPrimitives.WriteUInt16BigEndian(last.AsSpan(6), 8100); // offset 64,800 bytes: 64,800 + 1,000 + 20 > 65,535
        ResetChecksum(last);
        peer.Stack.Receive(last);
        Assert.Equal(1, peer.Stack.Reassembly.DroppedByLimit);
        Assert.Equal(0, peer.Stack.Reassembly.Count);
        Assert.Equal(0, peer.Stack.Reassembly.HeldBytes);
        Assert.Equal(0, udp.QueuedCount);
    }

    /// <summary>The reassembly timer runs on the stack's clock: the rest of a datagram one moment before the timeout
    /// completes it; after the timeout the first part is gone (counted) and the rest alone completes nothing.</summary>
    [Fact]
    public async Task ADatagramNotCompleteWithinTheTimeout_IsDropped_OnTheInjectedClock()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var time = new ManualTimeProvider();
        await using var peer = new ScriptedPeer(new NetStackOptions { ReassemblyTimeout = TimeSpan.FromSeconds(30) }, time);
        using var udp = peer.Stack.BindUdp(StackPort);
        byte[] payload = Repeat([5, 6, 7, 8, 9], 2000);

        var early = Fragment(BuildUdp(payload, id: 11), [1000]);
        peer.Stack.Receive(early[0]);
        time.Advance(TimeSpan.FromSeconds(29));
        peer.Stack.Receive(early[1]);
        var buffer = new byte[4000];
        var datagram = await udp.ReceiveFromAsync(buffer, cts.Token);
        Assert.Equal(payload, buffer.AsSpan(0, datagram.Length).ToArray());

        var late = Fragment(BuildUdp(payload, id: 12), [1000]);
        peer.Stack.Receive(late[0]);
        time.Advance(TimeSpan.FromSeconds(30));
        peer.Stack.Receive(late[1]);
        Assert.Equal(1, peer.Stack.Reassembly.DroppedByTimeout);
        Assert.Equal(0, udp.QueuedCount);
        Assert.Equal(1, peer.Stack.Reassembly.Count); // the second half waits for a first half that will not come
        time.Advance(TimeSpan.FromSeconds(30));
        peer.Stack.Reassembly.Expire(peer.Stack.NowMs);
        Assert.Equal(2, peer.Stack.Reassembly.DroppedByTimeout);
        Assert.Equal(0, peer.Stack.Reassembly.HeldBytes);
    }

    /// <summary>A fragmented echo request is answered when the reply fits the MTU; the stack does not fragment what it
    /// sends, so a reply larger than the MTU is not sent.</summary>
    [Fact]
    public async Task AFragmentedEchoRequest_IsAnswered_WhenTheReplyFitsTheMtu()
    {
        await using var peer = new ScriptedPeer(new NetStackOptions { Mtu = 9000 });
        byte[] echo = BuildIcmpEcho(4000);
        foreach (byte[] fragment in Fragment(echo, [1480, 2960]))
        {
            peer.Stack.Receive(fragment);
        }
        byte[] reply = (await TakeIcmpAsync(peer)).Single();
        Assert.Equal(echo.Length, reply.Length);
        Assert.Equal(0, reply[20]);
        Assert.Equal(echo.AsSpan(28).ToArray(), reply.AsSpan(28).ToArray());

        await using var small = new ScriptedPeer(new NetStackOptions { Mtu = 1500 });
        foreach (byte[] fragment in Fragment(echo, [1480, 2960]))
        {
            small.Stack.Receive(fragment);
        }
        Assert.Equal(1, small.Stack.Reassembly.Reassembled);
        Assert.Empty(await TakeIcmpAsync(small));
    }

    /// <summary>Port-unreachable errors come from a token bucket: a burst of the per-second rate at once, then tokens
    /// at that rate (half a second later, half the rate), never more than one burst however long the pause.</summary>
    [Fact]
    public async Task PortUnreachableErrors_AreRateLimited_ByATokenBucket()
    {
        var time = new ManualTimeProvider();
        await using var peer = new ScriptedPeer(new NetStackOptions { IcmpErrorsPerSecond = 10 }, time);
        async Task<int> BurstAsync()
        {
            for (int i = 0; i < 25; i++)
            {
                peer.Stack.Receive(BuildUdp([1, 2, 3], id: (ushort)i, destinationPort: 9999));
            }
            return (await TakeIcmpAsync(peer)).Count(p => p[20] == 3 && p[21] == 3);
        }

        Assert.Equal(10, await BurstAsync());
        time.Advance(TimeSpan.FromMilliseconds(500));
        Assert.Equal(5, await BurstAsync());
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(10, await BurstAsync());
    }

    private static async Task<List<byte[]>> TakeIcmpAsync(ScriptedPeer peer)
    {
        await peer.Stack.FlushAsync().AsTask().WaitAsync(Timeout);
        var icmp = new List<byte[]>();
        while (peer.Device.Sent.TryDequeue(out byte[]? packet))
        {
            if (packet[9] == IpPacket.ProtocolIcmp)
            {
                icmp.Add(packet);
            }
        }
        return icmp;
    }

    private static byte[] Repeat(byte[] pattern, int length)
    {
        byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++)
        {
            bytes[i] = (byte)(pattern[i % pattern.Length] + (i / pattern.Length));
        }
        return bytes;
    }

    /// <summary>Distinct 8-byte boundaries inside a payload of <paramref name="total"/> bytes (at most 40 of them).</summary>
    private static List<int> Cuts(int total, byte[] seeds)
    {
        var cuts = new SortedSet<int>();
        int units = (total - 1) / 8; // a cut at unit k (1..units) leaves data after it
        if (units >= 1)
        {
            foreach (byte seed in seeds.Take(40))
            {
                cuts.Add((1 + (seed * 7919 % units)) * 8);
            }
            cuts.Add(8); // at least two fragments
        }
        return [.. cuts];
    }

    private static uint Value(IPAddress address) => BinaryPrimitives.ReadUInt32BigEndian(address.GetAddressBytes());

    private static byte[] BuildUdp(byte[] payload, ushort id, ushort destinationPort = StackPort)
    {
        int length = 28 + payload.Length;
        byte[] packet = new byte[length];
        IpPacket.WriteIpv4Header(packet, Value(ScriptedPeer.PeerAddress), Value(ScriptedPeer.StackAddress), IpPacket.ProtocolUdp, length, id);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(20), PeerPort);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(22), destinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(24), (ushort)(8 + payload.Length));
        payload.CopyTo(packet, 28);
        IpPacket.WriteTransportChecksum(packet, 6, udp: true);
        return packet;
    }

    private static byte[] BuildIcmpEcho(int dataLength)
    {
        int length = 28 + dataLength;
        byte[] packet = new byte[length];
        IpPacket.WriteIpv4Header(packet, Value(ScriptedPeer.PeerAddress), Value(ScriptedPeer.StackAddress), IpPacket.ProtocolIcmp, length, 77);
        packet[20] = 8;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(24), 0x1234);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(26), 1);
        Repeat([9, 8, 7], dataLength).CopyTo(packet, 28);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(22), Segmenter.Finish(Segmenter.Sum(packet.AsSpan(20))));
        return packet;
    }

    /// <summary>Cuts a whole 20-byte-header packet into fragments at payload offsets <paramref name="cuts"/> (multiples of 8).</summary>
    private static List<byte[]> Fragment(byte[] packet, IReadOnlyList<int> cuts)
    {
        int total = packet.Length - 20;
        var fragments = new List<byte[]>();
        int start = 0;
        foreach (int cut in cuts.Append(total))
        {
            fragments.Add(FragmentOf(packet, start, cut - start, more: cut < total));
            start = cut;
        }
        return fragments;
    }

    private static byte[] FragmentOf(byte[] packet, int offset, int length, bool more)
    {
        byte[] fragment = new byte[20 + length];
        packet.AsSpan(0, 20).CopyTo(fragment);
        packet.AsSpan(20 + offset, length).CopyTo(fragment.AsSpan(20));
        BinaryPrimitives.WriteUInt16BigEndian(fragment.AsSpan(2), (ushort)fragment.Length);
        BinaryPrimitives.WriteUInt16BigEndian(fragment.AsSpan(6), (ushort)((more ? 0x2000 : 0) | (offset / 8)));
        ResetChecksum(fragment);
        return fragment;
    }

    private static void ResetChecksum(byte[] packet)
    {
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(10), 0);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(10), Segmenter.Finish(Segmenter.Sum(packet.AsSpan(0, 20))));
    }
}
