using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace P2PNet.Muxing.Yamux;

// The write loop: the only writer of transport.Output. Streams with something to send queue themselves (at most once
// each); session frames queue as items. Each turn writes one stream frame (so large writes interleave fairly), and a batch
// is flushed once when the queue runs dry.
internal sealed partial class YamuxSession
{
    /// <summary>Peer-triggered replies (pongs, RSTs of refused streams) that may wait in the queue at once.</summary>
    private const int MaxPendingReplies = 1024;

    /// <summary>Flush at least this often within a long batch, so the transport can start sending.</summary>
    private const int FlushThreshold = 256 * 1024;

    // On a connection that delivers inline (TcpTransportOptions.LowLatency) an idle write loop resumes on the thread
    // that queues work (the application's flush, the read loop's window update), so a lone frame is framed, encrypted
    // and sent on that thread. The loop never blocks (a flush that meets backpressure awaits and returns to the
    // caller), and no caller holds a lock while it queues.
    private readonly SingleReaderQueue<WriteItem> _writeQueue;
    private readonly SemaphoreSlim _replyBudget;

    /// <summary>Queues <paramref name="stream"/> for a write turn unless it is already queued.</summary>
    internal void Schedule(YamuxStream stream)
    {
        if (stream.TryMarkQueued() && !_writeQueue.TryWrite(new WriteItem(stream, default, null, false)))
        {
            stream.ClearQueued(); // the session is over; nothing will be sent
        }
    }

    /// <summary>Queues a session frame (or a stream frame with no stream state, like the RST of a refused stream).</summary>
    /// <param name="frame">The header; these frames have no payload.</param>
    /// <param name="flushed">Completed once the frame was flushed to the transport.</param>
    /// <param name="budgeted">Whether the frame holds a slot of <see cref="_replyBudget"/>, returned once written.</param>
    private void EnqueueReply(YamuxFrameHeader frame, TaskCompletionSource? flushed, bool budgeted = false)
    {
        if (!_writeQueue.TryWrite(new WriteItem(null, frame, flushed, budgeted)) && budgeted)
        {
            _replyBudget.Release();
        }
    }

    private async Task WriteLoopAsync(CancellationToken cancellationToken)
    {
        await default(ThreadPoolYield);
        PipeWriter output = _transport.Output;
        SingleReaderQueue<WriteItem> queue = _writeQueue;
        int maxFrameSize = Options.MaxFrameWriteSize;
        List<TaskCompletionSource> flushWaiters = [];
        try
        {
            // Shutdown completes the queue, which ends the wait.
            while (!cancellationToken.IsCancellationRequested && await queue.WaitToReadAsync().ConfigureAwait(false))
            {
                long unflushed = 0;
                while (queue.TryRead(out WriteItem item))
                {
                    if (item.Stream is { } stream)
                    {
                        unflushed += stream.WriteFrames(output, maxFrameSize);
                    }
                    else
                    {
                        YamuxFrameCodec.WriteHeader(output, item.Frame);
                        unflushed += YamuxFrameCodec.HeaderSize;
                        if (item.Budgeted)
                        {
                            _replyBudget.Release();
                        }

                        if (item.Flushed is not null)
                        {
                            flushWaiters.Add(item.Flushed);
                        }
                    }

                    if (unflushed >= FlushThreshold)
                    {
                        if (!await FlushAsync(output, cancellationToken).ConfigureAwait(false))
                        {
                            return;
                        }

                        unflushed = 0;
                    }
                }

                if (unflushed > 0 || flushWaiters.Count > 0)
                {
                    if (!await FlushAsync(output, cancellationToken).ConfigureAwait(false))
                    {
                        return;
                    }

                    foreach (TaskCompletionSource waiter in flushWaiters)
                    {
                        waiter.TrySetResult();
                    }

                    flushWaiters.Clear();
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutting down.
        }
#pragma warning disable CA1031 // the loop must end the session whatever went wrong, and record why
        catch (Exception ex)
#pragma warning restore CA1031
        {
            YamuxLog.TransportFailed(Logger, ex);
            RequestStop(ex, goAway: null);
        }
    }

    /// <returns><see langword="false"/> when the transport no longer accepts data (its reader completed).</returns>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> FlushAsync(PipeWriter output, CancellationToken cancellationToken)
    {
        FlushResult result = await output.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (result.IsCompleted)
        {
            // The connection below is gone; the read loop will see its end too. Not an error of ours.
            YamuxLog.TransportEnded(Logger);
            RequestStop(null, goAway: null);
            return false;
        }

        return true;
    }

    /// <summary>A write queue entry: a stream's turn, or a header-only session frame.</summary>
    private readonly record struct WriteItem(YamuxStream? Stream, YamuxFrameHeader Frame, TaskCompletionSource? Flushed, bool Budgeted);
}
