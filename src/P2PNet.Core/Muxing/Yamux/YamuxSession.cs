using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using P2PNet.Upgrade;
using P2PNet.Upgrade.Internal;
using P2PNet.Transports;

namespace P2PNet.Muxing.Yamux;

/// <summary>
/// A Yamux session (<see href="https://github.com/libp2p/specs/blob/master/yamux/README.md">/yamux/1.0.0</see>):
/// multiplexes streams over one secured connection, given as an <see cref="IDuplexPipe"/>.
/// </summary>
/// <remarks>
/// <para>
/// Three background loops, started by <see cref="Start"/> and awaited by <see cref="DisposeAsync"/>: the read loop parses
/// frames from <c>transport.Input</c> and dispatches them; the write loop is the only writer of <c>transport.Output</c> and
/// drains a queue of streams with something to send (one frame per turn, so streams interleave) and session frames
/// (Ping, GoAway, RSTs of refused streams), flushing once per batch; the keep-alive loop measures the round-trip time and
/// pings the peer. The read loop never waits for the write loop except through a bounded budget of peer-triggered replies,
/// so the two directions cannot deadlock each other.
/// </para>
/// <para>
/// Streams are opened eagerly: <see cref="OpenStreamAsync"/> queues a WindowUpdate with SYN at once (carrying data if
/// the application writes before the write loop gets to it) and returns without waiting for the peer's ACK; it waits only
/// while <see cref="YamuxOptions.MaxUnacknowledgedOutboundStreams"/> streams are unacknowledged or
/// <see cref="YamuxOptions.MaxConcurrentStreams"/> are open. Inbound streams are acknowledged when the application takes
/// them with <see cref="AcceptStreamAsync"/>, so the ACK backlog bounds how far a peer can run ahead of the application.
/// </para>
/// <para>
/// Thread safety: all public members may be called concurrently from any thread. The stream table and counters are
/// guarded by one lock, never held while awaiting or while taking a stream's lock. Options are copied when the session
/// is created.
/// </para>
/// </remarks>
internal sealed partial class YamuxSession : IMuxedSession, IResourceAccountedSession
{
    private static volatile PipeOptions? s_sendPipeOptions;

    private readonly IDuplexPipe _transport;
    private readonly bool _isClient;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Lock _sync = new();
    private readonly Dictionary<uint, YamuxStream> _streams = [];
    private readonly YamuxAcceptQueue _acceptQueue = new();
    private readonly TaskCompletionSource<StopRequest> _stopRequested = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Guarded by _sync.
    private long _nextStreamId;
    private int _outboundCount;
    private int _inboundCount;
    private int _outboundUnacknowledged;
    private int _acceptBacklog;
    private TaskCompletionSource? _capacityChanged;
    private bool _goingAway;
    private bool _remoteGoAway;
    private bool _closed;
    private Exception? _closeReason;

    /// <summary>Sum of all open streams' receive-window growth beyond the initial window; see <see cref="TryReserveWindowGrowth"/>.</summary>
    private long _windowGrowth;

    private int _started; // 0 new, 1 started, 2 disposed before start
    private Task _readLoop = Task.CompletedTask;
    private Task _writeLoop = Task.CompletedTask;
    private Task _keepAliveLoop = Task.CompletedTask;
    private Task _lifetime = Task.CompletedTask;

    /// <summary>Creates a session over <paramref name="transport"/>; call <see cref="Start"/> to run it.</summary>
    /// <param name="transport">The secured connection. The session completes both its ends when it ends.</param>
    /// <param name="isClient">Whether this side dialed (uses odd stream ids) or listened (even ids).</param>
    /// <param name="options">Limits and timeouts; validated here.</param>
    /// <param name="logger">Receives the session's log.</param>
    /// <param name="timeProvider">The clock for keep-alive, timeouts and window tuning; <see cref="TimeProvider.System"/> by default.</param>
    public YamuxSession(IDuplexPipe transport, bool isClient, YamuxOptions options, ILogger logger, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logger);
        options = options.Clone(); // a snapshot: later changes by the caller do not reach a running session
        options.Validate();

        _transport = transport;
        _isClient = isClient;
        Options = options;
        Logger = logger;
        Time = timeProvider ?? TimeProvider.System;
        _nextStreamId = isClient ? 1 : 2;
        SendPipeOptions = GetSendPipeOptions(options.StreamSendBufferSize);
        DeliversInline = transport is IInlineDelivery { DeliversInline: true };
        _writeQueue = new SingleReaderQueue<WriteItem>(runReaderInline: DeliversInline);
        _replyBudget = new SemaphoreSlim(MaxPendingReplies, MaxPendingReplies);
    }

    /// <summary>Raised when a stream leaves the session's table (closed both ways, reset, or the session ended).</summary>
    public event Action<MuxedStream>? StreamClosed;

    /// <summary>Completes when the session is over: successfully after a normal close or end of the connection, faulted
    /// with the reason after a protocol violation, a transport error or a keep-alive timeout.</summary>
    public Task Completion => _completion.Task;

    /// <summary>Streams open in the session (both directions, including ones not yet accepted).</summary>
    public int StreamCount
    {
        get
        {
            lock (_sync)
            {
                return _streams.Count;
            }
        }
    }

    internal YamuxOptions Options { get; }

    /// <summary>Whether the connection below delivers inline (<see cref="Transports.Tcp.TcpTransportOptions.LowLatency"/>):
    /// then so does the session: streams' readers resume on the read loop's thread, and the write loop on the thread
    /// that queued work.</summary>
    internal bool DeliversInline { get; }

    internal ILogger Logger { get; }

    internal TimeProvider Time { get; }

    internal PipeOptions SendPipeOptions { get; }

    /// <summary>How far open streams' receive windows have grown in total (for tests and metrics).</summary>
    internal long WindowGrowth => Interlocked.Read(ref _windowGrowth);

    /// <summary>The streams' send-pipe options: shared by every session with the same buffer size (an idle connection
    /// should not carry its own copy).</summary>
    private static PipeOptions GetSendPipeOptions(int streamSendBufferSize)
    {
        PipeOptions? shared = s_sendPipeOptions;
        if (shared is null || shared.PauseWriterThreshold != streamSendBufferSize)
        {
            shared = new PipeOptions(
                pool: YamuxBlockPool.Instance,
                readerScheduler: PipeScheduler.Inline,
                writerScheduler: PipeScheduler.ThreadPool,
                pauseWriterThreshold: streamSendBufferSize,
                resumeWriterThreshold: streamSendBufferSize / 2,
                minimumSegmentSize: YamuxBlockPool.BlockSize,
                useSynchronizationContext: false);
            s_sendPipeOptions = shared;
        }

        return shared;
    }

    /// <summary>Starts the read, write and keep-alive loops.</summary>
    /// <exception cref="InvalidOperationException">The session was already started.</exception>
    /// <exception cref="ObjectDisposedException">The session was disposed.</exception>
    public void Start()
    {
        switch (Interlocked.CompareExchange(ref _started, 1, 0))
        {
            case 1:
                throw new InvalidOperationException("The yamux session is already started.");
            case 2:
                throw new ObjectDisposedException(nameof(YamuxSession));
        }

        CancellationToken cancellationToken = _shutdown.Token;
        // Each loop yields to the thread pool first, so none runs on the caller's thread (no Task.Run wrappers to keep).
        _readLoop = ReadLoopAsync(cancellationToken);
        _writeLoop = WriteLoopAsync(cancellationToken);
        _keepAliveLoop = KeepAliveLoopAsync(cancellationToken);
        _lifetime = RunAsync();
        YamuxLog.SessionStarted(Logger, _isClient);
    }

    /// <summary>
    /// Opens a stream. The SYN is queued at once and the stream is usable immediately; the peer's ACK is not awaited.
    /// </summary>
    /// <param name="cancellationToken">Cancels waiting for a free stream slot (see the remarks on <see cref="YamuxSession"/>).</param>
    /// <exception cref="MuxerClosedException">The session is closed or closing, or the peer sent GoAway.</exception>
    /// <exception cref="P2PNet.Resources.ResourceLimitExceededException">A stream or memory budget of the host is full.</exception>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<MuxedStream> OpenStreamAsync(CancellationToken cancellationToken = default)
    {
        YamuxStream stream;
        while (true)
        {
            TaskCompletionSource waiter;
            lock (_sync)
            {
                ThrowIfCannotOpenLocked();
                if (_outboundCount < Options.MaxConcurrentStreams && _outboundUnacknowledged < Options.MaxUnacknowledgedOutboundStreams)
                {
                    if (_nextStreamId > uint.MaxValue)
                    {
                        throw new MuxerClosedException("The yamux session has used up its stream ids; open a new connection.");
                    }

                    if (!TryReserveStream(outbound: true, out P2PNet.Resources.ResourceLimitExceededException? refusal))
                    {
                        throw refusal!;
                    }

                    uint id = (uint)_nextStreamId;
                    _nextStreamId += 2;
                    stream = new YamuxStream(this, id, isOutbound: true) { AwaitingAck = true };
                    _streams.Add(id, stream);
                    _outboundCount++;
                    _outboundUnacknowledged++;
                    break;
                }

                waiter = _capacityChanged ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            await waiter.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        YamuxLog.StreamOpened(Logger, stream.Id);
        Schedule(stream); // the SYN
        return stream;
    }

    private void ThrowIfCannotOpenLocked()
    {
        if (_closed || _goingAway)
        {
            throw new MuxerClosedException("The yamux session is closed; open a new connection.", _closeReason);
        }

        if (_remoteGoAway)
        {
            throw new MuxerClosedException("The peer sent GoAway: it accepts no new streams on this connection; open a new connection.");
        }
    }

    /// <summary>Waits for the next stream opened by the peer.</summary>
    /// <exception cref="MuxerClosedException">The session ended.</exception>
    public async ValueTask<MuxedStream> AcceptStreamAsync(CancellationToken cancellationToken = default) =>
        await TryAcceptStreamAsync(cancellationToken).ConfigureAwait(false)
        ?? throw new MuxerClosedException("The yamux session closed; it accepts no more streams.", _closeReason);

    /// <inheritdoc/>
    ValueTask<MuxedStream?> IMuxedSession.AcceptStreamAsync(CancellationToken cancellationToken) => TryAcceptStreamAsync(cancellationToken);

    /// <summary>Waits for the next stream opened by the peer; <see langword="null"/> once the session has ended.</summary>
    /// <remarks>For accept loops: every connection's end would otherwise throw (and rethrow) an exception.</remarks>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    internal async ValueTask<MuxedStream?> TryAcceptStreamAsync(CancellationToken cancellationToken = default)
    {
        YamuxAcceptQueue queue = _acceptQueue;
        while (await queue.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            while (queue.TryRead(out YamuxStream? stream))
            {
                bool take;
                lock (_sync)
                {
                    // Streams reset by the peer (or failed by the session's end) while waiting are skipped.
                    take = stream.InAcceptBacklog;
                    if (take)
                    {
                        stream.InAcceptBacklog = false;
                        _acceptBacklog--;
                    }
                }

                if (take)
                {
                    stream.OnAccepted(); // the ACK
                    return stream;
                }
            }
        }

        return null;
    }

    /// <summary>
    /// Closes the session: sends GoAway (normal), flushes what is queued (up to <see cref="YamuxOptions.GoAwayTimeout"/>),
    /// completes the transport and fails streams still open with <see cref="MuxerClosedException"/>. Close or complete
    /// streams first for their data to arrive.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting; the session still closes.</param>
    public async ValueTask CloseAsync(CancellationToken cancellationToken = default)
    {
        RequestStop(null, YamuxGoAwayCode.Normal);
        EnsureLifetimeWithoutStart();
        await _lifetime.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Closes the session like <see cref="CloseAsync"/> and waits for its loops to finish.</summary>
    public async ValueTask DisposeAsync()
    {
        RequestStop(null, YamuxGoAwayCode.Normal);
        EnsureLifetimeWithoutStart();
        await _lifetime.ConfigureAwait(false);
    }

    private void EnsureLifetimeWithoutStart()
    {
        if (Interlocked.CompareExchange(ref _started, 2, 0) == 0)
        {
            _lifetime = RunAsync(); // never started: no loops, but the transport and waiters are still released
        }
    }

    /// <summary>Asks the session to end, once; the first reason wins. No new streams are opened or accepted from now on.</summary>
    private void RequestStop(Exception? reason, YamuxGoAwayCode? goAway)
    {
        TaskCompletionSource? waiters;
        lock (_sync)
        {
            if (_goingAway)
            {
                return;
            }

            _goingAway = true;
            _closeReason = reason;
            waiters = _capacityChanged;
            _capacityChanged = null;
        }

        _stopRequested.TrySetResult(new StopRequest(reason, goAway));
        waiters?.TrySetResult();
    }

    /// <summary>Ends the session once a stop was requested: GoAway, stop the loops, release the transport and the streams.</summary>
    private async Task RunAsync()
    {
        StopRequest stop = await _stopRequested.Task.ConfigureAwait(false);
        if (stop.GoAway is { } code && !_writeLoop.IsCompleted)
        {
            var flushed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            EnqueueReply(new YamuxFrameHeader(YamuxFrameType.GoAway, YamuxFrameFlags.None, 0, (uint)code), flushed);
            try
            {
                await Task.WhenAny(flushed.Task, _writeLoop).WaitAsync(Options.GoAwayTimeout, Time).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                YamuxLog.GoAwayNotFlushed(Logger, Options.GoAwayTimeout);
            }
        }

        await _shutdown.CancelAsync().ConfigureAwait(false);
        CancelPendingTransportRead();
        _writeQueue.TryComplete();
        await Task.WhenAll(_readLoop, _writeLoop, _keepAliveLoop).ConfigureAwait(false); // they catch their own errors
        await CompleteQuietlyAsync(static transport => transport.Output.CompleteAsync()).ConfigureAwait(false);
        await CompleteQuietlyAsync(static transport => transport.Input.CompleteAsync()).ConfigureAwait(false);

        FailRemaining(stop.Reason);
        _shutdown.Dispose();
        _replyBudget.Dispose();
        YamuxLog.SessionEnded(Logger, stop.Reason?.Message ?? "closed normally");
        if (stop.Reason is null)
        {
            _completion.TrySetResult();
        }
        else
        {
            _completion.TrySetException(stop.Reason);
            _ = _completion.Task.Exception; // observed: awaiting Completion is optional
        }
    }

    /// <summary>Ends the read loop's pending (or next) read; see <see cref="ReadLoopAsync"/>.</summary>
    private void CancelPendingTransportRead()
    {
        try
        {
            _transport.Input.CancelPendingRead();
        }
        catch (InvalidOperationException)
        {
            // the transport's reader is already completed: the read loop has ended
        }
    }

    /// <summary>Completing the transport may flush and fail; the session must still release its streams and complete.</summary>
    private async Task CompleteQuietlyAsync(Func<IDuplexPipe, ValueTask> complete)
    {
        try
        {
            await complete(_transport).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // any transport's failure on close is only worth a log line here
        catch (Exception ex)
#pragma warning restore CA1031
        {
            YamuxLog.TransportCloseFailed(Logger, ex);
        }
    }

    private void FailRemaining(Exception? reason)
    {
        List<YamuxStream> open;
        List<YamuxStream>? unaccepted = null;
        lock (_sync)
        {
            _closed = true;
            open = [.. _streams.Values];
            _streams.Clear();
            foreach (YamuxStream stream in open)
            {
                stream.Removed = true;
                if (stream.InAcceptBacklog)
                {
                    stream.InAcceptBacklog = false;
                    (unaccepted ??= []).Add(stream);
                }
            }

            _outboundCount = _inboundCount = _outboundUnacknowledged = _acceptBacklog = 0;
        }

        _acceptQueue.TryComplete();
        string message = reason is null ? "The yamux session closed." : $"The yamux session ended: {reason.Message}";
        foreach (YamuxStream stream in open)
        {
            // One exception per stream: the pipes rethrow it, possibly on several threads at once.
            stream.OnSessionClosed(new MuxerClosedException(message, reason));
            RaiseStreamClosed(stream);
        }

        foreach (YamuxStream stream in unaccepted ?? [])
        {
            stream.ReleaseUnaccepted();
        }

        FailPendingPing(new MuxerClosedException(message, reason));
    }

    /// <summary>Removes a stream that closed both ways or was reset; frees its slot.</summary>
    internal void RemoveStream(YamuxStream stream)
    {
        TaskCompletionSource? waiters = null;
        bool unaccepted = false;
        lock (_sync)
        {
            if (stream.Removed)
            {
                return;
            }

            stream.Removed = true;
            _streams.Remove(stream.Id);
            if (stream.IsOutbound)
            {
                _outboundCount--;
                if (stream.AwaitingAck)
                {
                    stream.AwaitingAck = false;
                    _outboundUnacknowledged--;
                }

                waiters = _capacityChanged;
                _capacityChanged = null;
            }
            else
            {
                _inboundCount--;
                if (stream.InAcceptBacklog)
                {
                    stream.InAcceptBacklog = false;
                    _acceptBacklog--;
                    unaccepted = true;
                }
            }
        }

        if (unaccepted)
        {
            stream.ReleaseUnaccepted();
        }

        waiters?.TrySetResult();
        Interlocked.Add(ref _windowGrowth, -stream.TakeWindowGrowth());
        YamuxLog.StreamRemoved(Logger, stream.Id);
        RaiseStreamClosed(stream);
    }

    /// <summary>
    /// Takes <paramref name="bytes"/> of the session's window-growth budget (<see cref="YamuxOptions.MaxSessionWindowGrowth"/>).
    /// </summary>
    /// <returns><see langword="false"/> if the budget does not allow it; the window then stays as it is.</returns>
    internal bool TryReserveWindowGrowth(long bytes)
    {
        if (Interlocked.Add(ref _windowGrowth, bytes) <= Options.MaxSessionWindowGrowth && TryReserveGrowthFromBudget(bytes))
        {
            return true;
        }

        Interlocked.Add(ref _windowGrowth, -bytes);
        return false;
    }

    /// <summary>The peer acknowledged an outbound stream: one more may be opened.</summary>
    private void OnAcknowledged(YamuxStream stream)
    {
        TaskCompletionSource? waiters = null;
        lock (_sync)
        {
            if (!stream.AwaitingAck)
            {
                return;
            }

            stream.AwaitingAck = false;
            _outboundUnacknowledged--;
            waiters = _capacityChanged;
            _capacityChanged = null;
        }

        waiters?.TrySetResult();
    }

    private void RaiseStreamClosed(YamuxStream stream)
    {
        ReleaseStream(stream); // every stream that entered the table passes here exactly once
        try
        {
            StreamClosed?.Invoke(stream);
        }
#pragma warning disable CA1031 // a subscriber's bug must not take the session down
        catch (Exception ex)
#pragma warning restore CA1031
        {
            YamuxLog.StreamClosedHandlerFailed(Logger, ex);
        }
    }

    private readonly record struct StopRequest(Exception? Reason, YamuxGoAwayCode? GoAway);
}
