using P2PNet.Vpn.NetStack;
using P2PNet.Vpn.NetStack.Internal;

namespace P2PNet.Vpn.Tests.NetStack;

/// <summary>Segment-by-segment scripts against the stack's TCP (RFC 9293 §3.10, RFC 5961): the test is the peer.</summary>
public class TcpStateMachineTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task ARstInsideTheWindowButNotAtRcvNxt_DrawsAChallengeAck_AndTheConnectionLives()
    {
        await using var peer = new ScriptedPeer();
        using var cts = new CancellationTokenSource(Timeout);
        using var listener = peer.Stack.ListenTcp(7000);
        await using var connection = await peer.ConnectAsync(listener, cts.Token);

        peer.Inject(peer.Seq + 100, 0, TcpFlags.Rst, 0, []);
        var challenge = ScriptedPeer.Single(peer.TakeSent());
        Assert.Equal(TcpFlags.Ack, challenge.Flags);
        Assert.Equal(peer.Seq, challenge.AcknowledgmentNumber); // RFC 5961 §3.2: the ACK names the exact RCV.NXT
        Assert.Equal(TcpState.Established, connection.State);

        peer.Inject(peer.Seq, 0, TcpFlags.Rst, 0, []); // exactly at RCV.NXT: a real reset
        Assert.Equal(TcpState.Closed, connection.State);
        var reset = await Assert.ThrowsAsync<TcpConnectionException>(async () => await connection.ReadAsync(new byte[1], cts.Token));
        Assert.Equal(TcpError.ConnectionReset, reset.Error);
    }

    [Fact]
    public async Task ARstOutsideTheWindow_IsIgnoredSilently()
    {
        await using var peer = new ScriptedPeer();
        using var cts = new CancellationTokenSource(Timeout);
        using var listener = peer.Stack.ListenTcp(7000);
        await using var connection = await peer.ConnectAsync(listener, cts.Token);
        peer.Inject(peer.Seq + (8u << 20), 0, TcpFlags.Rst, 0, []);
        peer.Inject(peer.Seq - 1, 0, TcpFlags.Rst, 0, []);
        Assert.Empty(peer.TakeSent());
        Assert.Equal(TcpState.Established, connection.State);
    }

    [Fact]
    public async Task ASynOnAnEstablishedConnection_DrawsAChallengeAck_NotAReset()
    {
        await using var peer = new ScriptedPeer();
        using var cts = new CancellationTokenSource(Timeout);
        using var listener = peer.Stack.ListenTcp(7000);
        await using var connection = await peer.ConnectAsync(listener, cts.Token);
        peer.Inject(peer.Seq + 10, 0, TcpFlags.Syn, 1024, []);
        var answer = ScriptedPeer.Single(peer.TakeSent());
        Assert.Equal(TcpFlags.Ack, answer.Flags); // RFC 5961 §4.2
        Assert.Equal(TcpState.Established, connection.State);
    }

    [Fact]
    public async Task AnAckForDataNeverSent_IsAnsweredAndIgnored()
    {
        await using var peer = new ScriptedPeer();
        using var cts = new CancellationTokenSource(Timeout);
        using var listener = peer.Stack.ListenTcp(7000);
        await using var connection = await peer.ConnectAsync(listener, cts.Token);
        peer.Inject(peer.Seq, peer.Ack + 5000, TcpFlags.Ack, 1024, "data"u8);
        var answer = ScriptedPeer.Single(peer.TakeSent());
        Assert.Equal(peer.Seq, answer.AcknowledgmentNumber); // the data was dropped with the segment
        Assert.Equal(TcpState.Established, connection.State);
    }

    [Fact]
    public async Task OutOfOrderSegments_AreSacked_AndDeliveredInOrderOnceTheHoleFills()
    {
        await using var peer = new ScriptedPeer();
        using var cts = new CancellationTokenSource(Timeout);
        using var listener = peer.Stack.ListenTcp(7000);
        await using var connection = await peer.ConnectAsync(listener, cts.Token);
        peer.Inject(peer.Seq + 5, peer.Ack, TcpFlags.Ack, 1024, "world"u8);
        var dupAck = ScriptedPeer.Single(peer.TakeSent());
        Assert.Equal(peer.Seq, dupAck.AcknowledgmentNumber);
        Assert.Equal(1, dupAck.SackCount);
        Assert.Equal(peer.Seq + 5, dupAck.Sack[0]);
        Assert.Equal(peer.Seq + 10, dupAck.Sack[1]);
        peer.Inject(peer.Seq, peer.Ack, TcpFlags.Ack, 1024, "hello"u8);
        var ack = ScriptedPeer.Single(peer.TakeSent());
        Assert.Equal(peer.Seq + 10, ack.AcknowledgmentNumber);
        Assert.Equal(0, ack.SackCount);
        var buffer = new byte[16];
        int n = await connection.ReadAsync(buffer, cts.Token);
        Assert.Equal("helloworld", System.Text.Encoding.ASCII.GetString(buffer, 0, n));
    }

    [Fact]
    public async Task WhileHoldingOutOfOrderData_FullSegmentsLeaveTheSackBlocksOut_SoNoPacketOutgrowsTheMss_AndAShortOneKeepsThem()
    {
        await using var peer = new ScriptedPeer();
        using var cts = new CancellationTokenSource(Timeout);
        using var listener = peer.Stack.ListenTcp(7000);
        await using var connection = await peer.ConnectAsync(listener, cts.Token);
        // Three holes' worth of out-of-order data held: up to three SACK blocks (26 option bytes) would go on a segment.
        foreach (uint at in (uint[])[10, 30, 50])
        {
            peer.Inject(peer.Seq + at, peer.Ack, TcpFlags.Ack, 1024, "0123456789"u8);
        }
        Assert.Equal(3, peer.TakeSent()[^1].SackCount);

        await connection.WriteAsync(new byte[(3 * 1460) + 100], cts.Token); // three full segments and a short one
        var sent = peer.TakeSent();
        Assert.Equal([1460, 1460, 1460, 100], sent.Select(s => s.PayloadLength));
        Assert.All(sent, s => Assert.True(s.PayloadOffset + s.PayloadLength <= 20 + 1460,
            $"{s.PayloadOffset}-byte header + {s.PayloadLength} bytes: over the peer's MSS of 1460 (and a 1,500-byte MTU)"));
        Assert.All(sent.Take(3), s => Assert.Equal(0, s.SackCount));
        Assert.Equal(3, sent[3].SackCount); // room to spare on the short one
    }

    [Fact]
    public async Task SimultaneousClose_PassesThroughClosing_ToTimeWait()
    {
        await using var peer = new ScriptedPeer();
        using var cts = new CancellationTokenSource(Timeout);
        using var listener = peer.Stack.ListenTcp(7000);
        await using var connection = await peer.ConnectAsync(listener, cts.Token);
        connection.CompleteWrites();
        var fin = ScriptedPeer.Single(peer.TakeSent());
        Assert.True(fin.Has(TcpFlags.Fin));
        Assert.Equal(TcpState.FinWait1, connection.State);
        // The peer's FIN crosses ours: it does not acknowledge our FIN yet.
        peer.Inject(peer.Seq, peer.Ack, TcpFlags.Fin | TcpFlags.Ack, 1024, []);
        Assert.Equal(TcpState.Closing, connection.State);
        var ackOfFin = ScriptedPeer.Single(peer.TakeSent());
        Assert.Equal(peer.Seq + 1, ackOfFin.AcknowledgmentNumber);
        peer.Inject(peer.Seq + 1, peer.Ack + 1, TcpFlags.Ack, 1024, []);
        Assert.Equal(TcpState.TimeWait, connection.State);
    }

    [Fact]
    public async Task AZeroWindow_HoldsData_UntilTheWindowOpens()
    {
        await using var peer = new ScriptedPeer();
        using var cts = new CancellationTokenSource(Timeout);
        using var listener = peer.Stack.ListenTcp(7000);
        await using var connection = await peer.ConnectAsync(listener, cts.Token);
        peer.Inject(peer.Seq, peer.Ack, TcpFlags.Ack, 0, []); // window closed
        await connection.WriteAsync("queued"u8.ToArray(), cts.Token);
        Assert.Empty(peer.TakeSent());
        peer.Inject(peer.Seq, peer.Ack, TcpFlags.Ack, 1024, []); // a window update opens it
        var data = ScriptedPeer.Single(peer.TakeSent());
        Assert.Equal(6, data.PayloadLength);
        Assert.Equal(peer.Ack, data.SequenceNumber);
    }

    [Fact]
    public async Task ASynBeyondTheAcceptBacklog_IsDropped_AndHalfOpenConnectionsAreBounded()
    {
        await using var peer = new ScriptedPeer(new NetStackOptions { MaxHalfOpenConnections = 3 });
        using var listener = peer.Stack.ListenTcp(7000, backlog: 100);
        byte[] options = [2, 4, 0x05, 0xB4];
        for (int i = 0; i < 10; i++)
        {
            peer.Port = (ushort)(41000 + i);
            peer.Inject(1000, 0, TcpFlags.Syn, 65535, [], options);
        }
        Assert.Equal(3, peer.TakeSent().Count(s => s.Flags == (TcpFlags.Syn | TcpFlags.Ack)));
        Assert.Equal(3, peer.Stack.ConnectionCount);
        await Task.CompletedTask;
    }
}

/// <summary>The steady-state segment path allocates nothing (issue 17's target): packets and buffers come from pools.</summary>
public class NetStackAllocationTests
{
    [Fact]
    public async Task ReceivingAndAcknowledgingInOrderSegments_AllocatesNothingPerSegment()
    {
        await using var peer = new ScriptedPeer();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using var listener = peer.Stack.ListenTcp(7000);
        await using var connection = await peer.ConnectAsync(listener, cts.Token);
        byte[] payload = new byte[1000];
        var read = new byte[256 * 1024];
        const int segments = 200, warm = 20, measured = 180, rounds = 3;
        var packets = new byte[segments + warm + (rounds * measured)][];
        for (int i = 0; i < packets.Length; i++)
        {
            packets[i] = peer.Build(peer.Seq + (uint)(i * payload.Length), peer.Ack, P2PNet.Vpn.NetStack.Internal.TcpFlags.Ack, 1024, payload);
        }
        // A first round warms the pools (packet buffers, the receive ring, the output queue's capacity).
        for (int i = 0; i < segments; i++)
        {
            peer.Stack.Receive(packets[i]);
        }
        peer.TakeSent();
        while (await connection.ReadAsync(read, cts.Token) == read.Length)
        {
        }
        peer.Device.Capture = false;
        // The read above may have resumed on another thread: warm this thread too (ArrayPool.Shared keeps per-thread
        // buckets, allocated on a thread's first rent), with no await from here on.
        int next = segments;
        for (; next < segments + warm; next++)
        {
            peer.Stack.Receive(packets[next]);
            var flush = peer.Stack.FlushAsync();
            Assert.True(flush.IsCompletedSuccessfully);
        }
        // Several rounds, the least counted: an allocation per segment shows in every round, while a one-off (the
        // shared pool trimmed by a gen-2 collection another test caused, and refilled) lands in one — it did, once in a
        // fresh-clone CI run, 1,776 bytes in 180 segments.
        var allocatedPerRound = new List<long>();
        for (int round = 0; round < rounds; round++)
        {
            long written = peer.Device.Written;
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int end = next + measured; next < end; next++)
            {
                peer.Stack.Receive(packets[next]);
                var flush = peer.Stack.FlushAsync(); // as the read loop does after every packet
                Assert.True(flush.IsCompletedSuccessfully);
            }
            allocatedPerRound.Add(GC.GetAllocatedBytesForCurrentThread() - before);
            Assert.Equal(measured / 2, peer.Device.Written - written); // every second segment acknowledged (delayed ACK)
        }
        Assert.True(allocatedPerRound.Min() < measured, $"bytes allocated per round of {measured} segments: {string.Join(", ", allocatedPerRound)}");
    }
}
