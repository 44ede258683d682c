using System.Buffers.Binary;
using P2PNet.Testing;
using P2PNet.Vpn.Internal;
using P2PNet.Vpn.NetStack;
using P2PNet.Vpn.NetStack.Internal;

namespace P2PNet.Vpn.Tests.NetStack;

/// <summary>The sender's loss recovery segment by segment, the test as the receiving peer: the reordering timer, a lost
/// retransmission found from later SACKs, the probe in recovery; and segmentation offload (super-packets).</summary>
public class TcpLossRecoveryTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private const int Mss = 1460; // the scripted peer offers 1460 and no timestamps

    [Fact]
    public async Task WithOffload_NewDataGoesAsSuperPacketsOfWholeSegments_PshOnTheLast_TheFinInAnOrdinarySegment()
    {
        await using var peer = new ScriptedPeer(offload: true);
        using var cts = new CancellationTokenSource(Timeout);
        using var listener = peer.Stack.ListenTcp(7000);
        await using var connection = await peer.ConnectAsync(listener, cts.Token);
        byte[] data = new byte[20_000];
        Random.Shared.NextBytes(data);
        uint first = peer.Ack;

        await connection.WriteAsync(data, cts.Token);
        var flight = peer.TakeSent();
        var (packet, offload) = Assert.Single(peer.Device.SuperPackets);
        Assert.Equal(SegmentationKind.TcpV4, offload.Segmentation);
        Assert.Equal(Mss, offload.SegmentSize);
        Assert.Equal(10, flight.Count); // the initial window, in one device write
        Assert.All(flight, s => Assert.Equal(Mss, s.PayloadLength));
        Assert.All(flight, s => Assert.False(s.Has(TcpFlags.Psh) || s.Has(TcpFlags.Fin)));

        // The rest and the FIN: whole segments in a super-packet, the short tail with the FIN on its own.
        peer.Device.SuperPackets.Clear();
        connection.CompleteWrites();
        peer.Inject(peer.Seq, first + (uint)(10 * Mss), TcpFlags.Ack, 1024, []);
        var rest = peer.TakeSent();
        Assert.Equal([Mss, Mss, Mss, 20_000 - (13 * Mss)], rest.Select(s => s.PayloadLength));
        Assert.True(rest[^1].Has(TcpFlags.Fin));
        var (tail, tailOffload) = Assert.Single(peer.Device.SuperPackets);
        Assert.Equal(3, Segmenter.SegmentCount(tail, tailOffload));
        Assert.Equal(0, tail[20 + 13] & (byte)(TcpFlags.Fin | TcpFlags.Psh)); // never a FIN or PSH inside a super-packet

        // Every byte in order, at the sequence numbers the super-packets' segments carry.
        var all = flight.Concat(rest).ToList();
        for (int i = 0; i < all.Count; i++)
        {
            Assert.Equal(first + (uint)(i * Mss), all[i].SequenceNumber);
        }
        Assert.True(packet.Length > 1500); // one write carried more than an MTU
    }

    [Fact]
    public async Task WithoutOffload_EverySegmentIsAnOrdinaryPacket()
    {
        await using var peer = new ScriptedPeer(offload: false);
        using var cts = new CancellationTokenSource(Timeout);
        using var listener = peer.Stack.ListenTcp(7000);
        await using var connection = await peer.ConnectAsync(listener, cts.Token);
        await connection.WriteAsync(new byte[20_000], cts.Token);
        Assert.Equal(10, peer.TakeSent().Count);
        Assert.Empty(peer.Device.SuperPackets);
    }

    [Fact]
    public async Task AHoleBelowOneSackedSegment_IsResentAfterTheReorderingWindow_AndAgainByAProbe_NeverWaitingForTheRto()
    {
        var time = new ManualTimeProvider();
        await using var peer = new ScriptedPeer(new NetStackOptions(), time);
        using var cts = new CancellationTokenSource(Timeout);
        using var listener = peer.Stack.ListenTcp(7000);
        await using var connection = await peer.ConnectAsync(listener, cts.Token);
        await peer.Stack.StartAsync(cts.Token);
        await connection.WriteAsync(new byte[4 * Mss], cts.Token);
        var flight = peer.TakeSent();
        Assert.Equal(4, flight.Count);

        // Segment 3 arrives, 1 and 2 do not: one SACKed segment is too few for DupThresh (three), and no more data is
        // coming to make more. Not the RTO (200 ms) and not a probe of the tail: the hole itself, a millisecond later.
        peer.Inject(peer.Seq, flight[0].SequenceNumber, TcpFlags.Ack, 1024, [], SackOption(flight[2].SequenceNumber, Mss));
        // The stack's timer loop, asleep until its 10 ms tick, is woken to sleep until the reordering timer instead.
        await time.WaitForTimerAsync(TimeSpan.FromMilliseconds(1), Timeout);
        var (resent, after) = await AdvanceUntilSentAsync(peer, time, cts.Token);
        Assert.Equal(flight[0].SequenceNumber, resent.SequenceNumber);
        Assert.True(after <= TimeSpan.FromMilliseconds(2), $"resent after {after}");
        Assert.Equal(1, connection.GetStatistics().FastRetransmits);

        // That retransmission is lost as well, and nothing else is in flight to draw an ACK: a probe resends the hole
        // within a few milliseconds, where a stack that probes only outside recovery waits out the RTO.
        var (probe, probeAfter) = await AdvanceUntilSentAsync(peer, time, cts.Token);
        Assert.Equal(flight[0].SequenceNumber, probe.SequenceNumber);
        Assert.True(probeAfter < TimeSpan.FromMilliseconds(50), $"probed after {probeAfter}");
        var statistics = connection.GetStatistics();
        Assert.Equal(0, statistics.Timeouts);
        Assert.True(statistics.TailLossProbes >= 1);
    }

    [Fact]
    public async Task ALostRetransmission_IsResentAsSoonAsDataSentAfterItIsSacked()
    {
        await using var peer = new ScriptedPeer();
        using var cts = new CancellationTokenSource(Timeout);
        using var listener = peer.Stack.ListenTcp(7000);
        await using var connection = await peer.ConnectAsync(listener, cts.Token);
        await connection.WriteAsync(new byte[10 * Mss], cts.Token);
        var flight = peer.TakeSent();
        Assert.Equal(10, flight.Count);
        uint hole = flight[0].SequenceNumber;

        // Segments 2–10 arrive: recovery, and segment 1 is resent.
        peer.Inject(peer.Seq, hole, TcpFlags.Ack, 1024, [], SackOption(hole + Mss, 9 * Mss));
        Assert.Equal(hole, ScriptedPeer.Single(peer.TakeSent()).SequenceNumber);

        // New data goes out in recovery (the pipe counts only the resent segment) …
        await connection.WriteAsync(new byte[6 * Mss], cts.Token);
        var fresh = peer.TakeSent();
        Assert.NotEmpty(fresh);
        Assert.All(fresh, s => Assert.True(Seq.Ge(s.SequenceNumber, hole + (10 * Mss))));
        Assert.True(fresh.Count >= 4);

        // … and is SACKed four segments deep while segment 1 is still missing: its retransmission was lost too.
        peer.Inject(peer.Seq, hole, TcpFlags.Ack, 1024, [], SackOption(hole + Mss, 13 * Mss));
        var again = peer.TakeSent();
        Assert.Contains(again, s => s.SequenceNumber == hole);
        Assert.Equal(1, connection.GetStatistics().LostRetransmits);
        Assert.Equal(0, connection.GetStatistics().Timeouts);

        // Once it arrives, everything is acknowledged and recovery ends with the window at ssthresh, not one segment.
        peer.Inject(peer.Seq, hole + (16 * Mss), TcpFlags.Ack, 1024, []);
        var final = connection.GetStatistics();
        Assert.True(final.CongestionWindow >= final.SlowStartThreshold, $"cwnd {final.CongestionWindow}, ssthresh {final.SlowStartThreshold}");
        Assert.True(final.CongestionWindow > 2 * Mss);
    }

    /// <summary>A SACK option (NOP, NOP, kind 5) with one block.</summary>
    private static byte[] SackOption(uint start, int length)
    {
        byte[] option = [1, 1, 5, 10, 0, 0, 0, 0, 0, 0, 0, 0];
        BinaryPrimitives.WriteUInt32BigEndian(option.AsSpan(4), start);
        BinaryPrimitives.WriteUInt32BigEndian(option.AsSpan(8), start + (uint)length);
        return option;
    }

    /// <summary>Advances the clock a millisecond at a time until the stack sends something; returns the first segment and
    /// the time it took. After each step the test waits until the stack's timer loop waits again: it re-arms its delay
    /// only after a tick has run and its packets were flushed, so what the tick sent is there to take, under any load.</summary>
    private static async Task<(TcpSegment Segment, TimeSpan After)> AdvanceUntilSentAsync(ScriptedPeer peer, ManualTimeProvider time, CancellationToken ct)
    {
        var step = TimeSpan.FromMilliseconds(1);
        for (var elapsed = TimeSpan.Zero; elapsed < TimeSpan.FromSeconds(1); elapsed += step)
        {
            ct.ThrowIfCancellationRequested();
            await time.WaitForArmedTimersAsync(1, Timeout);
            time.Advance(step);
            await time.WaitForArmedTimersAsync(1, Timeout);
            var sent = peer.TakeSent();
            if (sent.Count > 0)
            {
                return (sent[0], elapsed + step);
            }
        }
        throw new TimeoutException("The stack sent nothing for a second of its clock.");
    }
}

/// <summary>An offloading device (a TUN with IFF_VNET_HDR) hands the stack super-packets and checksum-partial packets:
/// whatever their headers claim, the stack takes them whole, cuts them, or drops them, and keeps serving.</summary>
public class NetStackOffloadReceiveTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private static readonly System.Net.IPAddress StackAddress = System.Net.IPAddress.Parse("10.88.0.2");

    [Fact]
    public async Task ArbitraryOffloadedPackets_AreDroppedOrTaken_WithoutTrippingTheStack_WhichStillAnswersAPing()
    {
        await using var device = new OffloadTestDevice();
        await using var stack = new IPStack(device, StackAddress, new NetStackOptions());
        using var cts = new CancellationTokenSource(Timeout);
        using var listener = stack.ListenTcp(7000);
        await stack.StartAsync(cts.Token);
        var random = new Random(17);
        SegmentationKind[] kinds = [SegmentationKind.None, SegmentationKind.TcpV4, SegmentationKind.TcpV6, SegmentationKind.Udp];
        for (int i = 0; i < 3000; i++)
        {
            byte[] packet = new byte[random.Next(1, 3000)]; // a read of 0 bytes means the device closed
            random.NextBytes(packet);
            if (packet.Length >= 40 && random.Next(2) == 0)
            {
                // A plausible IPv4 header to us, so the garbage reaches the offload and transport code.
                packet[0] = 0x45;
                BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(2), (ushort)packet.Length);
                packet[6] = 0x40;
                packet[7] = 0;
                packet[9] = random.Next(2) == 0 ? (byte)6 : (byte)17;
                StackAddress.GetAddressBytes().CopyTo(packet, 16);
                packet[10] = packet[11] = 0;
                BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(10), Segmenter.Finish(Segmenter.Sum(packet.AsSpan(0, 20))));
            }
            var offload = new PacketOffload(random.Next(4) != 0, (ushort)random.Next(0, 60), (ushort)(random.Next(2) == 0 ? 16 : random.Next(0, 40)),
                kinds[random.Next(kinds.Length)], (ushort)random.Next(0, 2000));
            await device.SendAsync(packet, offload);
        }

        await device.SendAsync(EchoRequest(), default);
        while (true)
        {
            var (reply, _) = await device.ReceiveAsync(cts.Token);
            if (reply.Length >= 28 && reply[9] == 1 && reply[20] == 0)
            {
                break; // ICMP echo reply: the read loop is alive after all of it
            }
        }
        Assert.Equal(0, stack.InternalErrors);
    }

    private static byte[] EchoRequest()
    {
        byte[] packet = new byte[28 + 8];
        IpPacket.WriteIpv4Header(packet, BinaryPrimitives.ReadUInt32BigEndian(ScriptedPeer.PeerAddress.GetAddressBytes()),
            BinaryPrimitives.ReadUInt32BigEndian(StackAddress.GetAddressBytes()), IpPacket.ProtocolIcmp, packet.Length, 7);
        packet[20] = 8; // echo request
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(24), 1);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(26), 1);
        "ping!ok!"u8.CopyTo(packet.AsSpan(28));
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(22), Segmenter.Finish(Segmenter.Sum(packet.AsSpan(20))));
        return packet;
    }
}

/// <summary>A burst of segments read from the device at once is acknowledged once, at its end, with the latest SACK
/// blocks (a device that can say what is queued: <see cref="IPacketBatchSource"/>, as a TUN device can).</summary>
public class NetStackAckBatchingTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task ABurstOfOutOfOrderSegments_IsAcknowledgedOnce_AndTheSegmentThatFillsTheHoleOnceMore()
    {
        await using var builder = new ScriptedPeer(); // crafts the peer's packets; its own stack is not used
        await using var device = new BurstDevice();
        await using var stack = new IPStack(device, ScriptedPeer.StackAddress, new NetStackOptions());
        using var cts = new CancellationTokenSource(Timeout);
        using var listener = stack.ListenTcp(7000);
        await stack.StartAsync(cts.Token);

        uint seq = 5000;
        device.Burst(builder.Build(seq, 0, TcpFlags.Syn, 65535, [], [2, 4, 0x05, 0xB4, 1, 1, 4, 2]));
        var synAck = await device.NextSegmentAsync(cts.Token);
        uint ack = synAck.SequenceNumber + 1;
        seq++;
        device.Burst(builder.Build(seq, ack, TcpFlags.Ack, 1024, []));
        await using var connection = await listener.AcceptAsync(cts.Token);

        // Ten segments above a 100-byte hole, all in one read burst: one ACK, not ten.
        device.Burst([.. Enumerable.Range(0, 10).Select(i => builder.Build(seq + 100 + (uint)(i * 10), ack, TcpFlags.Ack, 1024, new byte[10]))]);
        var sackAck = await device.NextSegmentAsync(cts.Token);
        Assert.Equal(seq, sackAck.AcknowledgmentNumber);
        Assert.Equal(1, sackAck.SackCount);
        Assert.Equal(seq + 100, sackAck.Sack[0]);
        Assert.Equal(seq + 200, sackAck.Sack[1]);
        device.Burst(builder.Build(seq, ack, TcpFlags.Ack, 1024, new byte[100]));
        var full = await device.NextSegmentAsync(cts.Token);
        Assert.Equal(seq + 200, full.AcknowledgmentNumber);
        await Task.Delay(100, cts.Token);
        Assert.Equal(0, device.Pending); // nothing more was sent for the burst
    }

    private sealed class BurstDevice : IPacketDevice, IPacketBatchSource
    {
        private readonly System.Threading.Channels.Channel<byte[][]> _bursts = System.Threading.Channels.Channel.CreateUnbounded<byte[][]>();
        private readonly System.Threading.Channels.Channel<byte[]> _sent = System.Threading.Channels.Channel.CreateUnbounded<byte[]>();
        private byte[][] _current = [];
        private int _next;

        public int Pending => _sent.Reader.Count;

        public void Burst(params byte[][] packets) => Assert.True(_bursts.Writer.TryWrite(packets));

        public async Task<TcpSegment> NextSegmentAsync(CancellationToken ct)
        {
            byte[] packet = await _sent.Reader.ReadAsync(ct);
            Assert.True(TcpSegment.TryParse(packet.AsSpan(20), out var segment));
            return segment;
        }

        public ValueTask ConfigureAsync(System.Net.IPAddress address, int prefixLength, int mtu, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

        public async ValueTask<int> ReadPacketAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (!await _bursts.Reader.WaitToReadAsync(cancellationToken) || !_bursts.Reader.TryRead(out var burst))
            {
                return 0;
            }
            (_current, _next) = (burst, 1);
            burst[0].CopyTo(buffer);
            return burst[0].Length;
        }

        public bool TryReadPacket(Memory<byte> buffer, out int length)
        {
            length = 0;
            if (_next >= _current.Length)
            {
                return false;
            }
            byte[] packet = _current[_next++];
            packet.CopyTo(buffer);
            length = packet.Length;
            return true;
        }

        public bool TryReadOffloaded(Memory<byte> buffer, out OffloadedPacket packet)
        {
            packet = default;
            return false;
        }

        public ValueTask WritePacketAsync(ReadOnlyMemory<byte> packet, CancellationToken cancellationToken = default)
        {
            Assert.True(_sent.Writer.TryWrite(packet.ToArray()));
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            _bursts.Writer.TryComplete();
            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>RFC 7323 §5 (PAWS): with timestamps, a segment older than the last in-order one is dropped and answered
/// with an ACK, even when its sequence numbers lie in the window.</summary>
public class TcpPawsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task ASegmentWithAnOlderTimestamp_IsDroppedAndAnsweredWithAnAck_NewerOnesAreTaken()
    {
        await using var peer = new ScriptedPeer();
        using var cts = new CancellationTokenSource(Timeout);
        using var listener = peer.Stack.ListenTcp(7000);
        peer.Inject(peer.Seq, 0, TcpFlags.Syn, 65535, [], [2, 4, 0x05, 0xB4, 4, 2, .. Timestamp(1000, 0), 1, 3, 3, 7]);
        var synAck = ScriptedPeer.Single(peer.TakeSent());
        Assert.True(synAck.HasTimestamp);
        Assert.Equal(1000u, synAck.TsEcr);
        peer.Seq++;
        peer.Ack = synAck.SequenceNumber + 1;
        peer.Inject(peer.Seq, peer.Ack, TcpFlags.Ack, 1024, [], [1, 1, .. Timestamp(1001, synAck.TsVal)]);
        await using var connection = await listener.AcceptAsync(cts.Token);

        peer.Inject(peer.Seq, peer.Ack, TcpFlags.Ack | TcpFlags.Psh, 1024, "new"u8, [1, 1, .. Timestamp(2000, synAck.TsVal)]);
        peer.TakeSent();
        // An old duplicate at the next sequence number (a wrapped sequence space, or a forgery): PAWS drops it.
        peer.Inject(peer.Seq + 3, peer.Ack, TcpFlags.Ack | TcpFlags.Psh, 1024, "old"u8, [1, 1, .. Timestamp(1500, synAck.TsVal)]);
        var answer = ScriptedPeer.Single(peer.TakeSent());
        Assert.Equal(peer.Seq + 3, answer.AcknowledgmentNumber);
        Assert.Equal(2000u, answer.TsEcr); // TS.Recent did not move back
        peer.Inject(peer.Seq + 3, peer.Ack, TcpFlags.Ack | TcpFlags.Psh, 1024, "ok!"u8, [1, 1, .. Timestamp(2001, synAck.TsVal)]);

        var buffer = new byte[16];
        int read = 0;
        while (read < 6)
        {
            read += await connection.ReadAsync(buffer.AsMemory(read), cts.Token);
        }
        Assert.Equal("newok!", System.Text.Encoding.ASCII.GetString(buffer, 0, read));
    }

    private static byte[] Timestamp(uint value, uint echo)
    {
        byte[] option = [8, 10, 0, 0, 0, 0, 0, 0, 0, 0];
        BinaryPrimitives.WriteUInt32BigEndian(option.AsSpan(2), value);
        BinaryPrimitives.WriteUInt32BigEndian(option.AsSpan(6), echo);
        return option;
    }
}
