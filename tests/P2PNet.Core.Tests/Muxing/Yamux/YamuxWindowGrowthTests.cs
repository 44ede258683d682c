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
