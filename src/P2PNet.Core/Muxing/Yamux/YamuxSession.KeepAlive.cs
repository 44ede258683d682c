using P2PNet.Upgrade;

namespace P2PNet.Muxing.Yamux;

// Ping (spec: "Ping - Used to measure RTT. It can also be used to heart-beat and do keep-alives over TCP"):
// round-trip measurement for window tuning, PingAsync, and the keep-alive loop.
internal sealed partial class YamuxSession
{
    private readonly Lock _pingLock = new();
    private PendingPing? _activePing;
    private uint _lastPingId;
    private long _roundTripTicks;

    /// <summary>The last measured round-trip time; <see cref="TimeSpan.Zero"/> until the first ping is answered.</summary>
    internal TimeSpan RoundTripTime => TimeSpan.FromTicks(Volatile.Read(ref _roundTripTicks));

    /// <summary>Sends a Ping and returns the round-trip time once the peer answers.</summary>
    /// <param name="cancellationToken">Stops waiting for the answer.</param>
    /// <exception cref="MuxerClosedException">The session ended.</exception>
    public async ValueTask<TimeSpan> PingAsync(CancellationToken cancellationToken = default) =>
        await StartPing().WaitAsync(cancellationToken).ConfigureAwait(false);

    /// <inheritdoc/>
    ValueTask<TimeSpan> IMuxedSession.MeasureRoundTripAsync(CancellationToken cancellationToken) => PingAsync(cancellationToken);

    /// <summary>Sends a Ping unless one is already waiting for its answer; callers share the outstanding one.</summary>
    private Task<TimeSpan> StartPing()
    {
        PendingPing ping;
        bool send = false;
        lock (_pingLock)
        {
            if (_activePing is null)
            {
                lock (_sync)
                {
                    if (_closed)
                    {
                        throw new MuxerClosedException("The yamux session is closed.", _closeReason);
                    }
                }

                _activePing = new PendingPing(++_lastPingId, Time.GetTimestamp());
                send = true;
            }

            ping = _activePing;
        }

        if (send)
        {
            EnqueueReply(new YamuxFrameHeader(YamuxFrameType.Ping, YamuxFrameFlags.Syn, 0, ping.Id), flushed: null);
        }

        return ping.Result.Task;
    }

    /// <summary>Read loop: a Ping frame. Returns the answer to send, if any.</summary>
    private YamuxFrameHeader? OnPing(in YamuxFrameHeader header)
    {
        if (header.HasFlag(YamuxFrameFlags.Syn))
        {
            return new YamuxFrameHeader(YamuxFrameType.Ping, YamuxFrameFlags.Ack, 0, header.Length); // echo the opaque value
        }

        if (header.HasFlag(YamuxFrameFlags.Ack))
        {
            PendingPing? answered = null;
            lock (_pingLock)
            {
                if (_activePing is { } ping && ping.Id == header.Length)
                {
                    answered = ping;
                    _activePing = null;
                }
            }

            if (answered is not null)
            {
                TimeSpan rtt = Time.GetElapsedTime(answered.StartTimestamp);
                Volatile.Write(ref _roundTripTicks, Math.Max(rtt.Ticks, 1));
                answered.Result.TrySetResult(rtt);
            }
        }

        return null;
    }

    private void FailPendingPing(Exception error)
    {
        PendingPing? ping;
        lock (_pingLock)
        {
            ping = _activePing;
            _activePing = null;
        }

        if (ping is not null && ping.Result.TrySetException(error))
        {
            _ = ping.Result.Task.Exception; // observed: the keep-alive loop may have stopped waiting for it
        }
    }

    /// <summary>
    /// Measures the round-trip time at once (the receive windows need it to grow), then, unless keep-alive is off, pings
    /// every <see cref="YamuxOptions.KeepAliveInterval"/>. A ping unanswered for <see cref="YamuxOptions.KeepAliveTimeout"/>
    /// while nothing else arrives either ends the session.
    /// </summary>
    private async Task KeepAliveLoopAsync(CancellationToken cancellationToken)
    {
        await default(ThreadPoolYield);
        TimeSpan interval = Options.KeepAliveInterval;
        bool keepAlive = interval > TimeSpan.Zero;
        try
        {
            if (!await ProbeAsync(closeOnTimeout: keepAlive, cancellationToken).ConfigureAwait(false) || !keepAlive)
            {
                return;
            }

            while (true)
            {
                // Without throwing: every session's end cancels this wait.
                await Task.Delay(interval, Time, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                if (cancellationToken.IsCancellationRequested)
                {
                    return;
                }
                if (!await ProbeAsync(closeOnTimeout: true, cancellationToken).ConfigureAwait(false))
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutting down.
        }
        catch (MuxerClosedException)
        {
            // The session ended.
        }
#pragma warning disable CA1031 // the loop must never fault: the session awaits it while closing
        catch (Exception ex)
#pragma warning restore CA1031
        {
            YamuxLog.InternalError(Logger, ex);
            RequestStop(ex, YamuxGoAwayCode.InternalError);
        }
    }

    /// <returns><see langword="false"/> when the session was closed for want of an answer, or has ended, or
    /// <paramref name="cancellationToken"/> stopped the wait.</returns>
    /// <remarks>Waits without throwing: most sessions end while their first probe is outstanding or cancelled.</remarks>
    private async Task<bool> ProbeAsync(bool closeOnTimeout, CancellationToken cancellationToken)
    {
        long framesSeen = Volatile.Read(ref _framesReceived);
        Task<TimeSpan> ping = StartPing();
        while (true)
        {
            Task<TimeSpan> wait = ping.WaitAsync(Options.KeepAliveTimeout, Time, cancellationToken);
            await ((Task)wait).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (wait.IsCompletedSuccessfully)
            {
                return true;
            }
            if (wait.IsCanceled || wait.Exception?.InnerException is MuxerClosedException)
            {
                return false; // shutting down, or the session ended
            }
            if (wait.Exception?.InnerException is not TimeoutException)
            {
                await wait.ConfigureAwait(false); // rethrows the unexpected failure for the loop to report
            }
            if (!closeOnTimeout)
            {
                return true; // only measuring the round trip: give up quietly, a late answer still sets it
            }

            long frames = Volatile.Read(ref _framesReceived);
            if (frames != framesSeen)
            {
                // The peer is alive, its answer is just queued behind other data: keep waiting.
                framesSeen = frames;
                continue;
            }

            YamuxLog.KeepAliveTimeout(Logger, Options.KeepAliveTimeout);
            RequestStop(
                new TimeoutException($"The peer did not answer a yamux keep-alive ping within {Options.KeepAliveTimeout}."),
                goAway: null);
            return false;
        }
    }

    private sealed class PendingPing(uint id, long startTimestamp)
    {
        public uint Id { get; } = id;

        public long StartTimestamp { get; } = startTimestamp;

        public TaskCompletionSource<TimeSpan> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
