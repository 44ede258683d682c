using P2PNet.Testing;
using P2PNet.Muxing;
using P2PNet.Muxing.Yamux;

namespace P2PNet.Core.Tests.Muxing;

/// <summary>
/// Receive-window auto-tuning over a link with 5 ms one-way latency, where a fixed 256 KiB window would cap a stream at
/// 256 KiB per round trip.
/// </summary>
public class YamuxWindowGrowthTests
{
    private static readonly TimeSpan Timeout = YamuxTest.Timeout;
    // The window grows when half of it is read within two round trips of the last update. A 20 ms link makes that
    // 80 ms: scheduling delays on a loaded machine (a few ms) cannot make a fast reader look slow, as they could at 5 ms.
    private static readonly TimeSpan Latency = TimeSpan.FromMilliseconds(20);

    /// <summary>Sends <paramref name="total"/> bytes from client to server; returns the server's stream once all arrived intact.</summary>
    private static async Task<YamuxStream> TransferAsync(YamuxSessionPair pair, int total)
    {
        await pair.Server.PingAsync().AsTask().WaitAsync(Timeout); // windows grow only once a round trip is known

        var accepted = new TaskCompletionSource<YamuxStream>(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<byte[]> received = Task.Run(async () =>
        {
            var stream = (YamuxStream)await pair.Server.AcceptStreamAsync();
            accepted.SetResult(stream);
            return await YamuxConformanceTests.HashInputToEndAsync(stream.Input);
        });

        await using MuxedStream stream = await pair.Client.OpenStreamAsync().AsTask().WaitAsync(Timeout);
        byte[] sent = await YamuxConformanceTests.WriteRandomAsync(stream, total, seed: 5).WaitAsync(Timeout);
        Assert.Equal(sent, await received.WaitAsync(Timeout));
        return await accepted.Task.WaitAsync(Timeout);
    }

    [Fact]
    public async Task FastReader_OnALatencyLink_GrowsTheReceiveWindowBeyond256KiB()
    {
        await using YamuxSessionPair pair = YamuxSessionPair.Start(TestTransports.CreateWithLatency(Latency));

        YamuxStream serverStream = await TransferAsync(pair, 16 * 1024 * 1024);

        Assert.True(serverStream.ReceiveWindow > YamuxOptions.DefaultWindowSize, $"window stayed at {serverStream.ReceiveWindow}");
        Assert.True(serverStream.ReceiveWindow <= new YamuxOptions().MaxWindowSize);
        Assert.Equal(serverStream.ReceiveWindow - YamuxOptions.DefaultWindowSize, pair.Server.WindowGrowth);

        // Closing the stream returns its growth to the session's budget.
        await serverStream.CompleteWritesAsync().AsTask().WaitAsync(Timeout);
        await YamuxTest.WaitUntilAsync(() => pair.Server.StreamCount == 0, "the stream closed");
        Assert.Equal(0, pair.Server.WindowGrowth);
    }

    [Fact]
    public async Task FastReader_OnALinkWhoseIdlePingIsFarShorterThanItsLoadedRoundTrip_StillGrowsTheWindow()
    {
        // A veth pair or loopback answers an idle ping in 0.1 ms, while half a window under load takes a millisecond to
        // go round (queues, the receiver's own work). Growth compared that millisecond with the 0.1 ms ping and never
        // happened, so a transfer stayed capped by the initial window (a VPN over such a link ran at 0.5 instead of
        // 4 Gbit/s in one run of two). Time here is manual: the ping takes 0.1 ms, the half window 1 ms.
        var time = new ManualTimeProvider();
        TransportPair transport = TestTransports.CreateInMemory();
        await using var session = new YamuxSession(transport.Listener, isClient: false, new YamuxOptions(), new CapturingLogger(), time);
        session.Start();
        var peer = new RawYamuxPeer(transport.Dialer);

        (YamuxFrameHeader ping, _) = await peer.ReceiveUntilAsync(h => h.Type == YamuxFrameType.Ping && h.HasFlag(YamuxFrameFlags.Syn), includePings: true);
        time.Advance(TimeSpan.FromTicks(1_000)); // 0.1 ms
        await peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.Ping, YamuxFrameFlags.Ack, 0, ping.Length));
        await YamuxTest.WaitUntilAsync(() => session.RoundTripTime > TimeSpan.Zero, "the round trip was measured");
        Assert.Equal(TimeSpan.FromTicks(1_000), session.RoundTripTime);

        const int Half = YamuxOptions.DefaultWindowSize / 2;
        await peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 1, 0));
        var stream = (YamuxStream)await session.AcceptStreamAsync().AsTask().WaitAsync(Timeout);
        time.Advance(TimeSpan.FromMilliseconds(1));
        await peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.Data, YamuxFrameFlags.None, 1, Half), new byte[Half]);
        long read = 0;
        while (read < Half)
        {
            var result = await stream.Input.ReadAsync().AsTask().WaitAsync(Timeout);
            read += result.Buffer.Length;
            stream.Input.AdvanceTo(result.Buffer.End);
        }

        (YamuxFrameHeader update, _) = await peer.ReceiveUntilAsync(h => h.Type == YamuxFrameType.WindowUpdate && h.StreamId == 1 && h.Length > 0);
        Assert.True(update.Length > Half, $"the update returned {update.Length} bytes: the window did not grow");
        Assert.Equal(2 * YamuxOptions.DefaultWindowSize, stream.ReceiveWindow);
    }

    [Fact]
    public async Task WindowGrowth_IsCappedByTheSessionBudget()
    {
        var options = new YamuxOptions { MaxSessionWindowGrowth = YamuxOptions.DefaultWindowSize };
        await using YamuxSessionPair pair = YamuxSessionPair.Start(TestTransports.CreateWithLatency(Latency), options);

        YamuxStream serverStream = await TransferAsync(pair, 8 * 1024 * 1024);

        // It may grow once (how soon depends on round-trip timing on a loaded machine), then the budget runs out.
        Assert.InRange(serverStream.ReceiveWindow, YamuxOptions.DefaultWindowSize, 2 * YamuxOptions.DefaultWindowSize);
        Assert.InRange(pair.Server.WindowGrowth, 0, options.MaxSessionWindowGrowth);
    }

    [Fact]
    public async Task WindowGrowth_StopsAtMaxWindowSize()
    {
        var options = new YamuxOptions { MaxWindowSize = 1024 * 1024 };
        await using YamuxSessionPair pair = YamuxSessionPair.Start(TestTransports.CreateWithLatency(Latency), options);

        YamuxStream serverStream = await TransferAsync(pair, 16 * 1024 * 1024);

        // However far round-trip timing lets it grow, never past the maximum.
        Assert.InRange(serverStream.ReceiveWindow, YamuxOptions.DefaultWindowSize, options.MaxWindowSize);
    }
}
