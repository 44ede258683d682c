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
    public async Task SingleReaderQueue_RunReaderInline_ResumesTheReaderInsideTryWrite_OnTheWriterThread()
    {
        var queue = new SingleReaderQueue<int>(runReaderInline: true);
        var reader = ResumeAsync(queue);
        Assert.False(reader.IsCompleted);

        var (writerThread, resumedBeforeTryWriteReturned) = await WriteOnOwnThreadAsync(queue, reader);

        var (readerThread, item) = await reader.WaitAsync(YamuxTest.Timeout);
        Assert.True(resumedBeforeTryWriteReturned, "the reader had not resumed when TryWrite returned");
        Assert.Equal(writerThread, readerThread);
        Assert.Equal(42, item);
    }

    [Fact]
    public async Task SingleReaderQueue_ByDefault_ResumesTheReaderOnAnotherThread()
    {
        var queue = new SingleReaderQueue<int>();
        var reader = ResumeAsync(queue);
        Assert.False(reader.IsCompleted);

        var (writerThread, _) = await WriteOnOwnThreadAsync(queue, reader);

        var (readerThread, item) = await reader.WaitAsync(YamuxTest.Timeout);
        Assert.NotEqual(writerThread, readerThread);
        Assert.Equal(42, item);
    }

    /// <summary>Waits on <paramref name="queue"/> (registered before this returns) and, once woken, reports the thread it
    /// resumed on and the item it read. No context is captured, so where it resumes is the queue's choice.</summary>
    private static async Task<(int Thread, int Item)> ResumeAsync(SingleReaderQueue<int> queue)
    {
        Assert.True(await queue.WaitToReadAsync().ConfigureAwait(false));
        int thread = Environment.CurrentManagedThreadId;
        Assert.True(queue.TryRead(out int item));
        return (thread, item);
    }

    /// <summary>Writes 42 from a thread of its own (never a pool thread, so nothing else runs on it); returns that thread
    /// and whether <paramref name="reader"/> had completed by the time TryWrite returned.</summary>
    private static Task<(int Thread, bool ReaderDone)> WriteOnOwnThreadAsync(SingleReaderQueue<int> queue, Task reader)
    {
        var done = new TaskCompletionSource<(int, bool)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                Assert.True(queue.TryWrite(42));
                done.TrySetResult((Environment.CurrentManagedThreadId, reader.IsCompleted));
            }
            catch (Exception e)
            {
                done.TrySetException(e);
            }
        }) { IsBackground = true, Name = "queue writer" };
        thread.Start();
        return done.Task.WaitAsync(YamuxTest.Timeout);
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
