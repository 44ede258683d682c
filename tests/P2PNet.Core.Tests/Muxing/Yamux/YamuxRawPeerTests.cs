using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using P2PNet.Muxing;
using P2PNet.Muxing.Yamux;
using P2PNet.Testing;

namespace P2PNet.Core.Tests.Muxing;

/// <summary>
/// One session (the listener, so the peer opens odd ids) against a hand-driven peer that writes raw frames: hostile input,
/// limits, and exact wire behaviour.
/// </summary>
public class YamuxRawPeerTests
{
    private static readonly TimeSpan Timeout = YamuxTest.Timeout;
    private static readonly YamuxFrameHeader PingRequest = new(YamuxFrameType.Ping, YamuxFrameFlags.Syn, 0, 4242);

    private static (YamuxSession Session, RawYamuxPeer Peer, CapturingLogger Log) Start(
        YamuxOptions? options = null, bool start = true, PipeOptions? pipeOptions = null, PipeWriter? wrapOutput = null)
    {
        TransportPair transport = TestTransports.CreateInMemory(pipeOptions);
        var log = new CapturingLogger();
        IDuplexPipe listener = wrapOutput is null ? transport.Listener : new DuplexPipe(transport.Listener.Input, wrapOutput);
        var session = new YamuxSession(listener, isClient: false, options ?? new YamuxOptions { KeepAliveInterval = TimeSpan.Zero }, log);
        if (start)
        {
            session.Start();
        }

        return (session, new RawYamuxPeer(transport.Dialer), log);
    }

    private static YamuxFrameHeader Syn(uint id) => new(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, id, 0);

    private static YamuxFrameHeader Data(uint id, int length, YamuxFrameFlags flags = YamuxFrameFlags.None) =>
        new(YamuxFrameType.Data, flags, id, (uint)length);

    /// <summary>The session must answer with GoAway(protocol error), end faulted with <see cref="WireFormatException"/>, and log why.</summary>
    private static async Task AssertProtocolErrorAsync(YamuxSession session, RawYamuxPeer peer, CapturingLogger log)
    {
        (YamuxFrameHeader goAway, _) = await peer.ReceiveUntilAsync(h => h.Type == YamuxFrameType.GoAway);
        Assert.Equal((uint)YamuxGoAwayCode.ProtocolError, goAway.Length);
        Assert.Equal(0u, goAway.StreamId);
        await Assert.ThrowsAsync<WireFormatException>(() => session.Completion.WaitAsync(Timeout));
        Assert.Null(await peer.ReceiveAsync()); // the session completed its transport
        Assert.Contains(log.Entries, e => e.Level == LogLevel.Warning && e.Exception is WireFormatException);
        await session.DisposeAsync().AsTask().WaitAsync(Timeout);
    }

    [Fact]
    public async Task DataBeyondTheWindow_IsAProtocolError()
    {
        (YamuxSession session, RawYamuxPeer peer, CapturingLogger log) = Start();
        await peer.SendAsync(Syn(1));
        await peer.SendAsync(Data(1, YamuxOptions.DefaultWindowSize + 1), new byte[YamuxOptions.DefaultWindowSize + 1]);

        await AssertProtocolErrorAsync(session, peer, log);
    }

    [Fact]
    public async Task DataFramesTogetherExceedingTheWindow_AreAProtocolError()
    {
        (YamuxSession session, RawYamuxPeer peer, CapturingLogger log) = Start();
        await peer.SendAsync(Syn(1));
        await peer.SendAsync(Data(1, 200_000), new byte[200_000]);
        await peer.SendAsync(Data(1, 100_000), new byte[100_000]); // 300,000 > 262,144, and nobody consumed anything

        await AssertProtocolErrorAsync(session, peer, log);
    }

    [Fact]
    public async Task ReusedStreamId_IsAProtocolError()
    {
        (YamuxSession session, RawYamuxPeer peer, CapturingLogger log) = Start();
        await peer.SendAsync(Syn(1));
        await peer.SendAsync(Syn(1));

        await AssertProtocolErrorAsync(session, peer, log);
    }

    [Fact]
    public async Task StreamIdOfTheListenersParity_OpenedByThePeer_IsAProtocolError()
    {
        (YamuxSession session, RawYamuxPeer peer, CapturingLogger log) = Start();
        await peer.SendAsync(Syn(2));

        await AssertProtocolErrorAsync(session, peer, log);
    }

    [Fact]
    public async Task DataOnStreamZero_IsAProtocolError()
    {
        (YamuxSession session, RawYamuxPeer peer, CapturingLogger log) = Start();
        await peer.SendAsync(Data(0, 1), new byte[1]);

        await AssertProtocolErrorAsync(session, peer, log);
    }

    [Fact]
    public async Task UnknownFrameType_IsAProtocolError()
    {
        (YamuxSession session, RawYamuxPeer peer, CapturingLogger log) = Start();
        await peer.SendRawAsync([0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

        await AssertProtocolErrorAsync(session, peer, log);
    }

    [Fact]
    public async Task UnsupportedVersion_IsAProtocolError()
    {
        (YamuxSession session, RawYamuxPeer peer, CapturingLogger log) = Start();
        await peer.SendRawAsync([1, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7]);

        await AssertProtocolErrorAsync(session, peer, log);
    }

    [Fact]
    public async Task InboundStreamsBeyondTheAcceptBacklog_AreResetAndTheSessionStaysUp()
    {
        (YamuxSession session, RawYamuxPeer peer, _) = Start(new YamuxOptions { KeepAliveInterval = TimeSpan.Zero, MaxUnacknowledgedInboundStreams = 4 });
        await using YamuxSession scope = session;
        foreach (uint id in new uint[] { 1, 3, 5, 7, 9 })
        {
            await peer.SendAsync(Syn(id));
        }

        (YamuxFrameHeader refused, _) = await peer.ReceiveUntilAsync(h => h.HasFlag(YamuxFrameFlags.Rst));
        Assert.Equal(9u, refused.StreamId);
        Assert.Equal(YamuxFrameType.WindowUpdate, refused.Type);

        // Accepting one frees a backlog slot: the next stream is taken.
        MuxedStream first = await session.AcceptStreamAsync().AsTask().WaitAsync(Timeout);
        Assert.Equal(1, first.StreamId);
        (YamuxFrameHeader ack, _) = await peer.ReceiveUntilAsync(h => h.HasFlag(YamuxFrameFlags.Ack));
        Assert.Equal(1u, ack.StreamId);
        await peer.SendAsync(Syn(11));
        await peer.RoundTripAsync();
        Assert.Equal(5, session.StreamCount);
        Assert.False(session.Completion.IsCompleted);
    }

    [Fact]
    public async Task InboundStreamsBeyondMaxConcurrentStreams_AreReset()
    {
        (YamuxSession session, RawYamuxPeer peer, _) = Start(new YamuxOptions { KeepAliveInterval = TimeSpan.Zero, MaxConcurrentStreams = 2 });
        await using YamuxSession scope = session;
        await peer.SendAsync(Syn(1));
        await peer.SendAsync(Syn(3));
        await session.AcceptStreamAsync().AsTask().WaitAsync(Timeout);
        await session.AcceptStreamAsync().AsTask().WaitAsync(Timeout);
        await peer.SendAsync(Syn(5));

        (YamuxFrameHeader refused, _) = await peer.ReceiveUntilAsync(h => h.HasFlag(YamuxFrameFlags.Rst));
        Assert.Equal(5u, refused.StreamId);
        Assert.False(session.Completion.IsCompleted);
    }

    [Fact]
    public async Task FramesForUnknownStreams_AreDiscarded()
    {
        (YamuxSession session, RawYamuxPeer peer, _) = Start();
        await using YamuxSession scope = session;
        await peer.SendAsync(Data(5, 1000), new byte[1000]); // never opened
        await peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.None, 7, 100));
        await peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Fin, 9, 0));
        await peer.SendAsync(Syn(1));
        await peer.SendAsync(Data(1, 2, YamuxFrameFlags.Fin), "ok"u8.ToArray());

        await using MuxedStream stream = await session.AcceptStreamAsync().AsTask().WaitAsync(Timeout);
        Assert.Equal("ok"u8.ToArray(), await YamuxTest.ReadToEndAsync(stream));
        Assert.False(session.Completion.IsCompleted);
    }

    [Fact]
    public async Task PingFromThePeer_IsAnsweredWithAckEchoingItsValue()
    {
        (YamuxSession session, RawYamuxPeer peer, _) = Start();
        await using YamuxSession scope = session;
        await peer.SendAsync(PingRequest);

        (YamuxFrameHeader pong, _) = await peer.ReceiveUntilAsync(h => h.Type == YamuxFrameType.Ping && h.HasFlag(YamuxFrameFlags.Ack), includePings: true);

        Assert.Equal(4242u, pong.Length);
        Assert.Equal(YamuxFrameFlags.Ack, pong.Flags);
        Assert.Equal(0u, pong.StreamId);
    }

    [Fact]
    public async Task GoAwayNormal_FromThePeer_StopsNewOutboundStreams_ExistingStreamsContinue()
    {
        (YamuxSession session, RawYamuxPeer peer, _) = Start();
        await using YamuxSession scope = session;
        await using MuxedStream stream = await session.OpenStreamAsync().AsTask().WaitAsync(Timeout);
        (YamuxFrameHeader syn, _) = await peer.ReceiveUntilAsync(h => h.HasFlag(YamuxFrameFlags.Syn));
        Assert.Equal(2u, syn.StreamId);

        await peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.GoAway, YamuxFrameFlags.None, 0, (uint)YamuxGoAwayCode.Normal));
        await peer.RoundTripAsync(); // answered only after the GoAway was processed

        await Assert.ThrowsAsync<MuxerClosedException>(() => session.OpenStreamAsync().AsTask());

        await peer.SendAsync(Data(2, 5, YamuxFrameFlags.Ack), "still"u8.ToArray());
        Assert.Equal("still"u8.ToArray(), await YamuxTest.ReadExactlyAsync(stream, 5));
        await stream.WriteAsync("here"u8.ToArray()).AsTask().WaitAsync(Timeout);
        (YamuxFrameHeader data, byte[] payload) = await peer.ReceiveUntilAsync(h => h.Type == YamuxFrameType.Data);
        Assert.Equal(2u, data.StreamId);
        Assert.Equal("here"u8.ToArray(), payload);
        Assert.False(session.Completion.IsCompleted);
    }

    [Fact]
    public async Task GoAwayWithProtocolError_FromThePeer_EndsTheSession()
    {
        (YamuxSession session, RawYamuxPeer peer, _) = Start();
        await peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.GoAway, YamuxFrameFlags.None, 0, (uint)YamuxGoAwayCode.ProtocolError));

        await Assert.ThrowsAsync<IOException>(() => session.Completion.WaitAsync(Timeout));
        await Assert.ThrowsAsync<MuxerClosedException>(() => session.AcceptStreamAsync().AsTask().WaitAsync(Timeout));
        await session.DisposeAsync().AsTask().WaitAsync(Timeout);
    }

    [Fact]
    public async Task CloseAsync_SendsGoAwayNormal_ThenCompletesTheTransport()
    {
        (YamuxSession session, RawYamuxPeer peer, _) = Start();

        await session.CloseAsync().AsTask().WaitAsync(Timeout);

        (YamuxFrameHeader goAway, _) = await peer.ReceiveUntilAsync(h => h.Type == YamuxFrameType.GoAway);
        Assert.Equal((uint)YamuxGoAwayCode.Normal, goAway.Length);
        Assert.Null(await peer.ReceiveAsync());
        await session.Completion.WaitAsync(Timeout);
    }

    [Fact]
    public async Task OutboundStreamsBeyondTheAckBacklog_WaitForAnAck()
    {
        (YamuxSession session, RawYamuxPeer peer, _) = Start(new YamuxOptions { KeepAliveInterval = TimeSpan.Zero, MaxUnacknowledgedOutboundStreams = 2 });
        await using YamuxSession scope = session;
        await session.OpenStreamAsync().AsTask().WaitAsync(Timeout);
        await session.OpenStreamAsync().AsTask().WaitAsync(Timeout);

        Task<MuxedStream> third = session.OpenStreamAsync().AsTask();
        await peer.RoundTripAsync(); // the third open has had its chance
        Assert.False(third.IsCompleted);

        await peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Ack, 2, 0));
        MuxedStream opened = await third.WaitAsync(Timeout);
        Assert.Equal(6, opened.StreamId);
    }

    [Fact]
    public async Task LargerInitialWindow_IsAnnouncedWithTheSyn()
    {
        (YamuxSession session, RawYamuxPeer peer, _) = Start(new YamuxOptions { KeepAliveInterval = TimeSpan.Zero, InitialWindowSize = 1024 * 1024 });
        await using YamuxSession scope = session;

        await session.OpenStreamAsync().AsTask().WaitAsync(Timeout);

        (YamuxFrameHeader syn, _) = await peer.ReceiveUntilAsync(h => h.HasFlag(YamuxFrameFlags.Syn));
        Assert.Equal(YamuxFrameType.WindowUpdate, syn.Type);
        Assert.Equal((uint)(1024 * 1024 - YamuxOptions.DefaultWindowSize), syn.Length);
    }

    [Fact]
    public async Task ConsumingHalfTheWindow_SendsAWindowUpdate()
    {
        (YamuxSession session, RawYamuxPeer peer, _) = Start();
        await using YamuxSession scope = session;
        await peer.SendAsync(Syn(1));
        await using MuxedStream stream = await session.AcceptStreamAsync().AsTask().WaitAsync(Timeout);
        const int Half = YamuxOptions.DefaultWindowSize / 2;

        await peer.SendAsync(Data(1, Half - 1), new byte[Half - 1]);
        await YamuxTest.ReadExactlyAsync(stream, Half - 1);
        await peer.SendAsync(Data(1, 1), new byte[1]);
        await YamuxTest.ReadExactlyAsync(stream, 1);

        (YamuxFrameHeader update, _) = await peer.ReceiveUntilAsync(h => h.Type == YamuxFrameType.WindowUpdate && h.Length > 0);
        Assert.Equal(1u, update.StreamId);
        Assert.Equal((uint)Half, update.Length); // no round trip measured yet (the peer never answers pings): no growth
    }

    [Fact]
    public async Task LargeWrites_AreSplitAtMaxFrameWriteSize_AndStreamsTakeTurns()
    {
        const int FrameSize = 16 * 1024;
        const int PerStream = 128 * 1024;
        (YamuxSession session, RawYamuxPeer peer, _) = Start(
            new YamuxOptions { KeepAliveInterval = TimeSpan.Zero, MaxFrameWriteSize = FrameSize, StreamSendBufferSize = 512 * 1024 },
            start: false);
        await using YamuxSession scope = session;

        // Both streams have all their data queued before the write loop starts, so the order is the scheduler's alone.
        MuxedStream a = await session.OpenStreamAsync().AsTask().WaitAsync(Timeout);
        MuxedStream b = await session.OpenStreamAsync().AsTask().WaitAsync(Timeout);
        await a.WriteAsync(new byte[PerStream], completeWrites: true).AsTask().WaitAsync(Timeout);
        await b.WriteAsync(new byte[PerStream], completeWrites: true).AsTask().WaitAsync(Timeout);
        session.Start();

        var order = new List<uint>();
        for (int received = 0; received < 2 * PerStream;)
        {
            (YamuxFrameHeader frame, byte[] payload) = await peer.ReceiveUntilAsync(h => h.Type == YamuxFrameType.Data);
            Assert.True(payload.Length <= FrameSize);
            order.Add(frame.StreamId);
            received += payload.Length;
        }

        Assert.Equal(2 * PerStream / FrameSize, order.Count);
        for (int i = 1; i < order.Count; i++)
        {
            Assert.NotEqual(order[i - 1], order[i]); // strictly alternating while both have data
        }
    }

    [Fact]
    public async Task SmallFramesQueuedTogether_AreFlushedTogether()
    {
        TransportPair transport = TestTransports.CreateInMemory();
        var counting = new FlushCountingWriter(transport.Listener.Output);
        await using var session = new YamuxSession(
            new DuplexPipe(transport.Listener.Input, counting), isClient: false, new YamuxOptions { KeepAliveInterval = TimeSpan.Zero }, new CapturingLogger());
        var peer = new RawYamuxPeer(transport.Dialer);

        for (int i = 0; i < 100; i++)
        {
            MuxedStream stream = await session.OpenStreamAsync().AsTask().WaitAsync(Timeout);
            await stream.WriteAsync(new byte[] { (byte)i }, completeWrites: true).AsTask().WaitAsync(Timeout);
        }

        session.Start();
        for (int i = 0; i < 100; i++)
        {
            await peer.ReceiveUntilAsync(h => h.Type == YamuxFrameType.Data);
        }

        Assert.True(counting.Flushes <= 3, $"{counting.Flushes} flushes for 100 queued frames");
    }

    [Fact]
    public async Task StreamWriteTimeout_ResetsAStalledStream()
    {
        var time = new ManualTimeProvider();
        TransportPair transport = TestTransports.CreateInMemory();
        var options = new YamuxOptions { KeepAliveInterval = TimeSpan.Zero, StreamWriteTimeout = TimeSpan.FromSeconds(5), StreamSendBufferSize = 64 * 1024 };
        await using var session = new YamuxSession(transport.Listener, isClient: false, options, new CapturingLogger(), time);
        session.Start();
        var peer = new RawYamuxPeer(transport.Dialer);
        MuxedStream stream = await session.OpenStreamAsync().AsTask().WaitAsync(Timeout);

        // The peer grants no window beyond the initial 256 KiB: the write stalls. Each buffered piece of it starts a timer;
        // the clock moves on until the stalled one fires (the earlier pieces went through in time).
        Task write = stream.WriteAsync(new byte[1024 * 1024]).AsTask();
        for (int step = 0; step < 500 && await time.WaitForTimerAsync(TimeSpan.FromSeconds(5), Timeout, () => write.IsCompleted); step++)
        {
            time.Advance(TimeSpan.FromSeconds(5));
        }

        await Assert.ThrowsAsync<TimeoutException>(() => write.WaitAsync(Timeout));
        (YamuxFrameHeader reset, _) = await peer.ReceiveUntilAsync(h => h.HasFlag(YamuxFrameFlags.Rst));
        Assert.Equal(2u, reset.StreamId);
        StreamResetException local = await Assert.ThrowsAsync<StreamResetException>(() => stream.WritesClosed.WaitAsync(Timeout));
        Assert.False(local.IsRemote);
    }

    private sealed class FlushCountingWriter(PipeWriter inner) : PipeWriter
    {
        private int _flushes;

        public int Flushes => Volatile.Read(ref _flushes);

        public override void Advance(int bytes) => inner.Advance(bytes);

        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _flushes);
            return inner.FlushAsync(cancellationToken);
        }
    }
}
