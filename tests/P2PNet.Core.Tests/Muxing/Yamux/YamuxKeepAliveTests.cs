using Microsoft.Extensions.Logging;
using P2PNet.Muxing;
using P2PNet.Muxing.Yamux;
using P2PNet.Testing;

namespace P2PNet.Core.Tests.Muxing;

/// <summary>Keep-alive pings on a manual clock, against a hand-driven peer that answers or stays silent.</summary>
public class YamuxKeepAliveTests
{
    private static readonly TimeSpan Timeout = YamuxTest.Timeout;
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan PingTimeout = TimeSpan.FromSeconds(10);

    private static (YamuxSession Session, RawYamuxPeer Peer, ManualTimeProvider Time, CapturingLogger Log) Start(TimeSpan? interval = null)
    {
        var time = new ManualTimeProvider();
        var log = new CapturingLogger();
        TransportPair transport = TestTransports.CreateInMemory();
        var options = new YamuxOptions { KeepAliveInterval = interval ?? Interval, KeepAliveTimeout = PingTimeout };
        var session = new YamuxSession(transport.Listener, isClient: false, options, log, time);
        session.Start();
        return (session, new RawYamuxPeer(transport.Dialer), time, log);
    }

    private static async Task<uint> ReceivePingAsync(RawYamuxPeer peer)
    {
        (YamuxFrameHeader ping, _) = await peer.ReceiveUntilAsync(h => h.Type == YamuxFrameType.Ping && h.HasFlag(YamuxFrameFlags.Syn), includePings: true);
        Assert.Equal(0u, ping.StreamId);
        return ping.Length;
    }

    private static Task AnswerAsync(RawYamuxPeer peer, uint opaque) =>
        peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.Ping, YamuxFrameFlags.Ack, 0, opaque));

    [Fact]
    public async Task KeepAlive_PingsEveryInterval_AndStaysUpWhileAnswered()
    {
        (YamuxSession session, RawYamuxPeer peer, ManualTimeProvider time, _) = Start();
        await using YamuxSession scope = session;

        var seen = new HashSet<uint>();
        for (int round = 0; round < 3; round++)
        {
            if (round > 0)
            {
                await time.WaitForTimerAsync(Interval, Timeout);
                time.Advance(Interval);
            }

            uint opaque = await ReceivePingAsync(peer); // round 0: the round-trip measurement at start
            Assert.True(seen.Add(opaque), "each ping carries a fresh value");
            await AnswerAsync(peer, opaque);
            await YamuxTest.WaitUntilAsync(() => session.RoundTripTime > TimeSpan.Zero, "the answer was processed");
        }

        Assert.False(session.Completion.IsCompleted);
    }

    [Fact]
    public async Task KeepAlive_UnansweredPing_ClosesTheSessionWithTimeoutException()
    {
        (YamuxSession session, RawYamuxPeer peer, ManualTimeProvider time, CapturingLogger log) = Start();
        await AnswerAsync(peer, await ReceivePingAsync(peer));
        await time.WaitForTimerAsync(Interval, Timeout);
        time.Advance(Interval);

        await ReceivePingAsync(peer); // not answered
        await time.WaitForTimerAsync(PingTimeout, Timeout);
        time.Advance(PingTimeout);

        await Assert.ThrowsAsync<TimeoutException>(() => session.Completion.WaitAsync(Timeout));
        Assert.Contains(log.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("keep-alive", StringComparison.Ordinal));
        await Assert.ThrowsAsync<MuxerClosedException>(() => session.OpenStreamAsync().AsTask());
        await session.DisposeAsync().AsTask().WaitAsync(Timeout);
    }

    [Fact]
    public async Task KeepAlive_SilentPeerFromTheStart_ClosesTheSession()
    {
        (YamuxSession session, RawYamuxPeer peer, ManualTimeProvider time, _) = Start();
        await ReceivePingAsync(peer);
        await time.WaitForTimerAsync(PingTimeout, Timeout);

        time.Advance(PingTimeout);

        await Assert.ThrowsAsync<TimeoutException>(() => session.Completion.WaitAsync(Timeout));
        await session.DisposeAsync().AsTask().WaitAsync(Timeout);
    }

    [Fact]
    public async Task KeepAlive_OtherFramesFromThePeer_DeferTheTimeout()
    {
        (YamuxSession session, RawYamuxPeer peer, ManualTimeProvider time, _) = Start();
        await using YamuxSession scope = session;
        uint opaque = await ReceivePingAsync(peer);
        await time.WaitForTimerAsync(PingTimeout, Timeout);

        // Busy but slow to answer: a frame arrives within the timeout, so the session keeps waiting for the answer.
        await peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.None, 99, 1));
        await peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.Ping, YamuxFrameFlags.Syn, 0, 1));
        await peer.ReceiveUntilAsync(h => h.Type == YamuxFrameType.Ping && h.HasFlag(YamuxFrameFlags.Ack), includePings: true);
        time.Advance(PingTimeout);
        await time.WaitForTimerAsync(PingTimeout, Timeout);

        await AnswerAsync(peer, opaque);
        await YamuxTest.WaitUntilAsync(() => session.RoundTripTime > TimeSpan.Zero, "the late answer was processed");
        Assert.False(session.Completion.IsCompleted);
    }

    [Fact]
    public async Task KeepAliveOff_SilentPeer_DoesNotCloseTheSession()
    {
        (YamuxSession session, RawYamuxPeer peer, ManualTimeProvider time, _) = Start(interval: TimeSpan.Zero);
        await using YamuxSession scope = session;
        await ReceivePingAsync(peer); // the one round-trip measurement
        await time.WaitForTimerAsync(PingTimeout, Timeout);

        time.Advance(TimeSpan.FromHours(1));
        await peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.Ping, YamuxFrameFlags.Syn, 0, 5));
        await peer.ReceiveUntilAsync(h => h.Type == YamuxFrameType.Ping && h.HasFlag(YamuxFrameFlags.Ack), includePings: true);

        Assert.False(session.Completion.IsCompleted);
        Assert.Equal(0, time.ArmedTimers);
    }
}
