using System.IO.Pipelines;

namespace P2PNet.Muxing.Yamux;

/// <summary>
/// One Yamux stream: a receive pipe filled by the session's read loop, a send pipe drained by the session's write loop,
/// and the flow-control state between them.
/// </summary>
/// <remarks>
/// <para>
/// Data path: the read loop copies each Data payload once, from the transport into <see cref="_receivePipe"/>, whose reader
/// is <see cref="Input"/> (wrapped only to count consumed bytes for window updates). The application writes into
/// <see cref="_sendPipe"/> (<see cref="Output"/>); the write loop copies from it into the transport, as many bytes as the
/// peer's window and <see cref="YamuxOptions.MaxFrameWriteSize"/> allow per turn.
/// </para>
/// <para>
/// Concurrency: <see cref="_sync"/> guards <see cref="_state"/>, the receive accounting, the receive pipe's writer (read loop,
/// reset) and the send pipe's reader (write loop, reset). The application's ends of both pipes are used without the lock;
/// <see cref="Pipe"/> allows its reader and writer on different threads. <see cref="_sendWindow"/> is updated with
/// <see cref="Interlocked"/>: the read loop adds, the write loop subtracts. The lock is never held while taking the
/// session's lock or awaiting.
/// </para>
/// </remarks>
internal sealed partial class YamuxStream : MuxedStream
{
    // Receive buffer: never pauses the writer (the read loop), because the flow-control window already bounds it.
    private static readonly PipeOptions s_receivePipeOptions = ReceivePipeOptions(PipeScheduler.ThreadPool);

    // The same on a session that delivers inline: the reader resumes on the read loop's thread (a connection with
    // TcpTransportOptions.LowLatency, whose readers are asked to keep their continuations short).
    private static readonly PipeOptions s_inlineReceivePipeOptions = ReceivePipeOptions(DeferredInlineScheduler.Instance);

    private readonly YamuxSession _session;
    private readonly uint _id;
    private readonly Lock _sync = new();
    private readonly Pipe _receivePipe;
    private readonly Pipe _sendPipe;
    private readonly YamuxStreamReader _input;
    private readonly YamuxStreamWriter _output;
    private readonly TaskCompletionSource _readsClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _writesClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private StreamState _state;
    private bool _disposed;

    /// <summary>Set once the stream is reset; reads fail from then on even if the peer had already sent FIN.</summary>
    private volatile StreamResetException? _resetError;

    /// <summary>1 while the stream sits in the session's write queue; see <see cref="YamuxSession.Schedule"/>.</summary>
    private int _queued;

    /// <summary>Session bookkeeping, guarded by the session's lock: the stream waits in the accept queue.</summary>
    internal bool InAcceptBacklog;

    /// <summary>Session bookkeeping, guarded by the session's lock: the stream left the stream table.</summary>
    internal bool Removed;

    /// <summary>Session bookkeeping, guarded by the session's lock: outbound stream counted as not yet acknowledged.</summary>
    internal bool AwaitingAck;

    private static PipeOptions ReceivePipeOptions(PipeScheduler readerScheduler) => new(
        pool: YamuxBlockPool.Instance,
        readerScheduler: readerScheduler,
        writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: 0,
        resumeWriterThreshold: 0,
        minimumSegmentSize: YamuxBlockPool.BlockSize,
        useSynchronizationContext: false);

    public YamuxStream(YamuxSession session, uint id, bool isOutbound)
    {
        _session = session;
        _id = id;
        IsOutbound = isOutbound;
        _receivePipe = new Pipe(session.DeliversInline ? s_inlineReceivePipeOptions : s_receivePipeOptions);
        _sendPipe = new Pipe(session.SendPipeOptions);
        _input = new YamuxStreamReader(this, _receivePipe.Reader);
        _output = new YamuxStreamWriter(this, _sendPipe.Writer, session.Options.StreamWriteTimeout, session.Time);
        _state = isOutbound ? StreamState.SynPending : StreamState.None;
        InitializeReceiveWindow(session.Options.InitialWindowSize);
    }

    [Flags]
    private enum StreamState
    {
        None = 0,

        /// <summary>Outbound stream whose SYN is not written yet.</summary>
        SynPending = 1 << 0,

        /// <summary>Inbound stream the application accepted, whose ACK is not written yet.</summary>
        AckPending = 1 << 1,

        /// <summary>Our FIN was written.</summary>
        FinSent = 1 << 3,

        /// <summary>The peer's FIN arrived.</summary>
        FinReceived = 1 << 4,

        /// <summary>The application stopped reading: arriving data is discarded (and its window returned).</summary>
        ReadsAbandoned = 1 << 5,

        /// <summary>Reset locally; the RST frame is not written yet.</summary>
        RstPending = 1 << 6,

        /// <summary>Reset by either side.</summary>
        Reset = 1 << 7,

        /// <summary>The session ended while the stream was open.</summary>
        SessionClosed = 1 << 8,

        /// <summary>Inbound stream handed to the application by AcceptStreamAsync.</summary>
        Accepted = 1 << 9,
    }

    /// <summary>Whether this side opened the stream.</summary>
    public bool IsOutbound { get; }

    /// <summary>The wire stream id.</summary>
    public uint Id => _id;

    public override long StreamId => _id;

    public override Task ReadsClosed => _readsClosed.Task;

    public override Task WritesClosed => _writesClosed.Task;

    public override PipeReader Input => _input;

    public override PipeWriter Output => _output;

    public override string ToString() => $"yamux stream {_id} ({(IsOutbound ? "outbound" : "inbound")})";

    /// <summary>The session accepted the stream for the application: the ACK goes out with the next frame.</summary>
    internal void OnAccepted()
    {
        lock (_sync)
        {
            if (IsTerminalLocked())
            {
                return;
            }

            _state |= StreamState.AckPending | StreamState.Accepted;
        }

        _session.Schedule(this);
    }

    public override void Abort() => Reset(isRemote: false, $"Yamux stream {_id} was reset locally.");

    /// <summary>The peer reset the stream (RST).</summary>
    internal void OnRemoteReset() => Reset(isRemote: true, $"Yamux stream {_id} was reset by the remote peer.");

    private void Reset(bool isRemote, string message)
    {
        bool sendRst;
        lock (_sync)
        {
            if (IsTerminalLocked())
            {
                return;
            }

            var error = new StreamResetException(message, isRemote);
            _resetError = error;
            _state |= StreamState.Reset;

            // A stream whose SYN never left needs no RST: the peer never heard of it.
            sendRst = !isRemote && (_state & StreamState.SynPending) == 0;
            if (sendRst)
            {
                _state |= StreamState.RstPending;
            }

            FailLocked(error);
        }

        YamuxLog.StreamReset(_session.Logger, _id, isRemote);
        if (sendRst)
        {
            _session.Schedule(this);
        }

        _session.RemoveStream(this);
    }

    /// <summary>The session ended: fail both directions with <paramref name="error"/>.</summary>
    internal void OnSessionClosed(MuxerClosedException error)
    {
        lock (_sync)
        {
            if (IsTerminalLocked())
            {
                return;
            }

            _state |= StreamState.SessionClosed;
            FailLocked(error);
        }
    }

    private void FailLocked(Exception error)
    {
        // Pending and later reads and flushes observe the error: the pipe rethrows a completion exception.
        _receivePipe.Writer.Complete(error);
        if ((_state & StreamState.FinSent) == 0)
        {
            _sendPipe.Reader.Complete(error);
        }

        if (_readsClosed.TrySetException(error))
        {
            _ = _readsClosed.Task.Exception; // observed: nobody is obliged to await it
        }

        if (_writesClosed.TrySetException(error))
        {
            _ = _writesClosed.Task.Exception;
        }
    }

    /// <summary>
    /// The stream ended (reset, or the session closed) while it waited to be accepted, so no owner will ever dispose
    /// it: completes the halves an owner would complete, so the pipes return their blocks to the pool (data that
    /// arrived before the end, such as a protocol proposal, sits in one).
    /// </summary>
    internal void ReleaseUnaccepted()
    {
        _disposed = true;
        _receivePipe.Reader.Complete();
        _sendPipe.Writer.Complete();
    }

    /// <summary>Throws <see cref="StreamResetException"/> if the stream was reset.</summary>
    internal void ThrowIfReset()
    {
        if (_resetError is { } reset)
        {
            throw new StreamResetException(reset.Message, reset.IsRemote);
        }
    }

    /// <summary>Marks the stream as queued for a write turn.</summary>
    /// <returns><see langword="false"/> if it already was.</returns>
    internal bool TryMarkQueued() => Interlocked.Exchange(ref _queued, 1) == 0;

    /// <summary>Marks the stream as no longer queued.</summary>
    internal void ClearQueued() => Volatile.Write(ref _queued, 0);

    private bool IsTerminalLocked() =>
        (_state & (StreamState.Reset | StreamState.SessionClosed)) != 0
        || (_state & (StreamState.FinSent | StreamState.FinReceived)) == (StreamState.FinSent | StreamState.FinReceived);

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;

            // Graceful: FIN after whatever was written, and stop reading (data still arriving is discarded, its window
            // returned so the peer can finish and send its own FIN). A read pending on another thread fails.
            _output.Complete();
            AbandonReads(new ObjectDisposedException(GetType().FullName, $"{this} was disposed."));
            _input.Complete();
        }

        base.Dispose(disposing);
    }
}
