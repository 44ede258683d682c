using P2PNet.Testing;
using P2PNet.Vpn.NetStack;
using P2PNet.Vpn.NetStack.Internal;

namespace P2PNet.Vpn.Tests.NetStack;

/// <summary>The stack's timers on an injected clock: tail loss probe (RFC 8985 §7), retransmission backoff (RFC 6298 §5)
/// and keep-alive (RFC 9293 §3.8.4).</summary>
public class TcpTimerTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task UnacknowledgedData_IsProbedThenResentAfterTheRto_WithTheRtoDoubledEachTime()
    {
        var time = new ManualTimeProvider();
        await using var peer = new ScriptedPeer(new NetStackOptions(), time);
        using var cts = new CancellationTokenSource(Timeout);
        using var listener = peer.Stack.ListenTcp(7000);
        await using var connection = await peer.ConnectAsync(listener, cts.Token);
        await peer.Stack.StartAsync(cts.Token);
        await connection.WriteAsync("lost"u8.ToArray(), cts.Token);
        var first = ScriptedPeer.Single(peer.TakeSent());

        // The handshake's ACK came at once on this clock: RTT ≈ 0, so the RTO is the 200 ms floor. First a tail loss
        // probe (RFC 8985: PTO = max(2 × SRTT, 10 ms) for a lone segment) resends the tail, then a second one twice
        // as late; the RTO then runs from the last probe, and doubles.
        Assert.Equal(TimeSpan.FromMilliseconds(200), connection.GetStatistics().RetransmissionTimeout);
        await AdvanceAsync(time, TimeSpan.FromMilliseconds(20));
        var probe = await WaitForSegmentAsync(peer, cts.Token);
        Assert.Equal(first.SequenceNumber, probe.SequenceNumber);
        Assert.Equal(4, probe.PayloadLength);
        await AdvanceAsync(time, TimeSpan.FromMilliseconds(30));
        Assert.Equal(first.SequenceNumber, (await WaitForSegmentAsync(peer, cts.Token)).SequenceNumber);
        Assert.Equal(2, connection.GetStatistics().TailLossProbes);
        await AdvanceAsync(time, TimeSpan.FromMilliseconds(170));
        Assert.Empty(peer.TakeSent());
        await AdvanceAsync(time, TimeSpan.FromMilliseconds(40));
        Assert.Equal(first.SequenceNumber, (await WaitForSegmentAsync(peer, cts.Token)).SequenceNumber);
        await AdvanceAsync(time, TimeSpan.FromMilliseconds(340));
        Assert.Empty(peer.TakeSent());
        await AdvanceAsync(time, TimeSpan.FromMilliseconds(60));
        Assert.Equal(first.SequenceNumber, (await WaitForSegmentAsync(peer, cts.Token)).SequenceNumber);
        Assert.Equal(2, connection.GetStatistics().Timeouts);

        peer.Inject(peer.Seq, peer.Ack + 4, TcpFlags.Ack, 1024, []);
        await AdvanceAsync(time, TimeSpan.FromSeconds(10));
        Assert.Empty(peer.TakeSent());
    }

    [Fact]
    public async Task KeepAlive_ProbesAnIdlePeer_AndFailsTheConnectionWhenNoProbeIsAnswered()
    {
        var time = new ManualTimeProvider();
        var options = new NetStackOptions { KeepAliveIdle = TimeSpan.FromSeconds(10), KeepAliveInterval = TimeSpan.FromSeconds(1), KeepAliveProbes = 2 };
        await using var peer = new ScriptedPeer(options, time);
        using var cts = new CancellationTokenSource(Timeout);
        using var listener = peer.Stack.ListenTcp(7000);
        await using var connection = await peer.ConnectAsync(listener, cts.Token);
        await peer.Stack.StartAsync(cts.Token);

        await AdvanceAsync(time, TimeSpan.FromSeconds(10));
        var probe = await WaitForSegmentAsync(peer, cts.Token);
        Assert.Equal(peer.Ack - 1, probe.SequenceNumber); // SND.NXT − 1: a live peer must answer
        await AdvanceAsync(time, TimeSpan.FromSeconds(1));
        Assert.Equal(peer.Ack - 1, (await WaitForSegmentAsync(peer, cts.Token)).SequenceNumber);
        await AdvanceAsync(time, TimeSpan.FromSeconds(1));
        var failed = await Assert.ThrowsAsync<TcpConnectionException>(async () => await connection.ReadAsync(new byte[1], cts.Token));
        Assert.Equal(TcpError.TimedOut, failed.Error);
    }

    // The stack's timer loop re-arms its delay after each tick; advance only once it waits, in tick-sized steps.
    private static async Task AdvanceAsync(ManualTimeProvider time, TimeSpan by)
    {
        var step = TimeSpan.FromMilliseconds(10);
        for (var done = TimeSpan.Zero; done < by; done += step)
        {
            await time.WaitForArmedTimersAsync(1, Timeout);
            time.Advance(step);
        }
        await time.WaitForArmedTimersAsync(1, Timeout);
    }

    private static async Task<TcpSegment> WaitForSegmentAsync(ScriptedPeer peer, CancellationToken ct)
    {
        while (true)
        {
            var sent = peer.TakeSent();
            if (sent.Count > 0)
            {
                return ScriptedPeer.Single(sent);
            }
            await Task.Delay(10, ct);
        }
    }
}
