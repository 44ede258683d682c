using P2PNet.Muxing;
using P2PNet.Muxing.Yamux;

namespace P2PNet.Core.Tests.Muxing;

/// <summary>The session's write and accept queues, which replaced channels to keep idle connections small.</summary>
public class YamuxQueueTests
{
    [Fact]
    public async Task SingleReaderQueue_WaitingReader_IsWokenByWrite_AndReadsInOrder()
    {
        var queue = new SingleReaderQueue<int>();
        ValueTask<bool> wait = queue.WaitToReadAsync();
        Assert.False(wait.IsCompleted);

        Assert.True(queue.TryWrite(1));
        Assert.True(queue.TryWrite(2));

        Assert.True(await wait.AsTask().WaitAsync(YamuxTest.Timeout));
        Assert.True(queue.TryRead(out int first));
        Assert.True(queue.TryRead(out int second));
        Assert.False(queue.TryRead(out _));
        Assert.Equal((1, 2), (first, second));
    }

    [Fact]
    public async Task SingleReaderQueue_Completion_WakesTheReader_ButQueuedItemsStayReadable()
    {
        var queue = new SingleReaderQueue<int>();
        ValueTask<bool> wait = queue.WaitToReadAsync();
        queue.TryComplete();
        Assert.False(await wait.AsTask().WaitAsync(YamuxTest.Timeout));
        Assert.False(queue.TryWrite(3));

        var second = new SingleReaderQueue<int>();
        Assert.True(second.TryWrite(7));
        second.TryComplete();
        Assert.True(await second.WaitToReadAsync());
        Assert.True(second.TryRead(out int item));
        Assert.Equal(7, item);
        Assert.False(await second.WaitToReadAsync());
    }

    [Fact]
    public async Task SingleReaderQueue_ManyWriters_EveryItemIsReadOnce()
    {
        var queue = new SingleReaderQueue<int>();
        const int Writers = 4;
        const int PerWriter = 10_000;
        var writers = Enumerable.Range(0, Writers).Select(w => Task.Run(() =>
        {
            for (int i = 0; i < PerWriter; i++)
            {
                Assert.True(queue.TryWrite((w * PerWriter) + i));
            }
        })).ToArray();
        _ = Task.WhenAll(writers).ContinueWith(_ => queue.TryComplete(), TaskScheduler.Default);

        var seen = new HashSet<int>();
        while (await queue.WaitToReadAsync().AsTask().WaitAsync(YamuxTest.Timeout))
        {
            while (queue.TryRead(out int item))
            {
                Assert.True(seen.Add(item));
            }
        }

        Assert.Equal(Writers * PerWriter, seen.Count);
    }

    [Fact]
    public async Task Accept_CancelledWait_DoesNotLoseTheNextStream()
    {
        await using YamuxSessionPair pair = YamuxSessionPair.Start(TestTransports.CreateInMemory());
        using (var cancelled = new CancellationTokenSource())
        {
            ValueTask<MuxedStream> abandoned = pair.Server.AcceptStreamAsync(cancelled.Token);
            await cancelled.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned.AsTask().WaitAsync(YamuxTest.Timeout));
        }

        MuxedStream opened = await pair.Client.OpenStreamAsync();
        await opened.WriteAsync(new byte[] { 42 });
        MuxedStream accepted = await pair.Server.AcceptStreamAsync().AsTask().WaitAsync(YamuxTest.Timeout);
        Assert.Equal(opened.StreamId, accepted.StreamId);
    }

    [Fact]
    public async Task Accept_ConcurrentAcceptors_EachGetADifferentStream()
    {
        await using YamuxSessionPair pair = YamuxSessionPair.Start(TestTransports.CreateInMemory());
        Task<MuxedStream>[] acceptors = Enumerable.Range(0, 3).Select(_ => pair.Server.AcceptStreamAsync().AsTask()).ToArray();

        for (int i = 0; i < acceptors.Length; i++)
        {
            MuxedStream stream = await pair.Client.OpenStreamAsync();
            await stream.WriteAsync(new byte[] { (byte)i });
        }

        MuxedStream[] accepted = await Task.WhenAll(acceptors).WaitAsync(YamuxTest.Timeout);
        Assert.Equal(acceptors.Length, accepted.Select(s => s.StreamId).Distinct().Count());
    }

    [Fact]
    public async Task Accept_WaitingAcceptors_EndWithMuxerClosed_WhenTheSessionCloses()
    {
        await using YamuxSessionPair pair = YamuxSessionPair.Start(TestTransports.CreateInMemory());
        Task<MuxedStream>[] acceptors = Enumerable.Range(0, 2).Select(_ => pair.Server.AcceptStreamAsync().AsTask()).ToArray();

        await pair.Server.CloseAsync().AsTask().WaitAsync(YamuxTest.Timeout);

        foreach (Task<MuxedStream> acceptor in acceptors)
        {
            await Assert.ThrowsAsync<MuxerClosedException>(() => acceptor.WaitAsync(YamuxTest.Timeout));
        }
    }
}
