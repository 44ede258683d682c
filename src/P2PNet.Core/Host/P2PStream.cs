using System.IO.Pipelines;
using System.Runtime.ExceptionServices;
using P2PNet.Host.Internal;
using P2PNet.Muxing;
using P2PNet.Peers;

namespace P2PNet.Host;

/// <summary>
/// A stream to a peer on a negotiated protocol: a .NET <see cref="Stream"/> and an <see cref="IDuplexPipe"/> over the
/// same bytes. Every stream the library hands out, inbound or outbound, is one of these.
/// </summary>
/// <remarks>
/// <para>
/// <b>Half-close.</b> Each direction closes on its own. <see cref="CompleteWritesAsync"/> (or <c>Output.Complete()</c>,
/// or <see cref="WriteAsync(ReadOnlyMemory{byte}, bool, CancellationToken)"/> with <c>completeWrites: true</c>) sends
/// end-of-stream (FIN) after the data already written; the remote reads to the end and can still write back, and we can
/// still read. Completing writes twice is harmless; writing after it throws <see cref="InvalidOperationException"/>.
/// </para>
/// <para>
/// <b>Read after the remote closed.</b> Data the remote sent before its FIN is still delivered; after it a read returns 0
/// (the <see cref="PipeReader"/> reports <see cref="ReadResult.IsCompleted"/>) and <see cref="ReadsClosed"/> completes.
/// </para>
/// <para>
/// <b>Reset.</b> <see cref="Abort"/> resets the stream (RST): unsent and unread data is discarded, and pending and later
/// reads and writes on both sides throw <see cref="StreamResetException"/> (<see cref="StreamResetException.IsRemote"/>
/// tells which side reset it). <c>Output.Complete(exception)</c> also resets. When the connection ends, operations throw
/// <see cref="MuxerClosedException"/>.
/// </para>
/// <para>
/// <b>Dispose.</b> Disposing half-closes our side if it is still open and stops reading: data that still arrives is
/// discarded. A read pending on another thread fails with <see cref="ObjectDisposedException"/>; later calls throw it.
/// </para>
/// <para>
/// <b>Cancellation.</b> A cancelled read consumes nothing. A cancelled write may have sent part of its data; writes wait
/// only while the peer's flow-control window is full. Writes return when the data is buffered for sending, not when the
/// peer received it.
/// </para>
/// <para>
/// <b>Optimistic negotiation.</b> An outbound stream opened with a single protocol is returned before the peer has
/// confirmed it: the multistream-select header and proposal are already sent, and the peer's answer is read in the
/// background as soon as it arrives. Until then <see cref="Protocol"/> is the protocol proposed. If the peer refuses it
/// (or answers with something else, closes, or does not answer within <see cref="P2PHostOptions.NegotiationTimeout"/>),
/// the stream is reset and the failure — <see cref="ProtocolNotSupportedException"/> for a refusal,
/// <see cref="ProtocolViolationException"/>, <see cref="EndOfStreamException"/> or <see cref="TimeoutException"/>
/// otherwise; <see cref="StreamResetException"/> when the peer reset the stream before its answer could be read, which
/// is how a refusal shows when the peer could not parse data written after the proposal) — is thrown by the first
/// operation after it is known (<see cref="EnsureNegotiatedAsync"/> waits for it explicitly): a read (reads wait for the answer), a write or flush,
/// <see cref="CompleteWritesAsync"/> (which waits for the answer before it sends FIN, so a write-only protocol learns
/// of a refusal when it closes; <c>Output.Complete()</c> likewise sends FIN only after the answer), or, if no operation reported it, <see cref="DisposeAsync"/>, which waits for the answer too. Synchronous
/// <see cref="Stream.Dispose()"/> does not wait and reports nothing. Data written before a refusal is lost. With several
/// protocols to choose from, opening the stream waits for the negotiation as before.
/// </para>
/// <para>
/// <b>Threading.</b> One reader and one writer may use the stream concurrently (one task reading while another
/// writes); concurrent reads, or concurrent writes, are not supported. Use either the <see cref="Stream"/> members or
/// <see cref="Input"/>/<see cref="Output"/> for a direction, not both at once. <see cref="Abort"/> and disposal may be
/// called from any thread at any time. The synchronous <see cref="Stream"/> members block the calling thread until the
/// asynchronous operation finishes; prefer the asynchronous members.
/// </para>
/// <para>
/// <b>Statistics.</b> <see cref="StreamId"/>, <see cref="Protocol"/>, <see cref="Connection"/> and
/// <see cref="RemotePeer"/> identify the stream; the host's metrics count streams opened per protocol and direction.
/// </para>
/// </remarks>
public sealed class P2PStream : Stream, IDuplexPipe
{
    private readonly MuxedStream _inner;
    private readonly Action<P2PStream>? _onDisposed;
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private int _disposed;
    private int _failureReported;
    private volatile bool _aborted;

    /// <summary>The peer's answer to an optimistic proposal: null once it confirmed the protocol (or for a negotiated
    /// stream); while set, its result is null for a confirmation and the failure otherwise (the task never faults).</summary>
    private volatile Task<Exception?>? _echo;

    internal P2PStream(MuxedStream inner, string protocol, P2PConnection connection, Action<P2PStream>? onDisposed = null,
        Task<Exception?>? echo = null)
    {
        _inner = inner;
        Protocol = protocol;
        Connection = connection;
        _onDisposed = onDisposed;
        _echo = echo;
        _input = echo is null ? inner.Input : new NegotiatingPipeReader(this, inner.Input);
        _output = echo is null ? inner.Output : new NegotiatingPipeWriter(this, inner.Output);
    }

    /// <summary>The protocol of this stream, e.g. <c>/ipfs/ping/1.0.0</c> (on an optimistic stream, the one proposed).</summary>
    public string Protocol { get; }

    /// <summary>The connection carrying the stream.</summary>
    public P2PConnection Connection { get; }

    /// <summary>The peer at the other end.</summary>
    public PeerId RemotePeer => Connection.RemotePeer;

    /// <summary>The muxer's id of this stream within its connection.</summary>
    public long StreamId => _inner.StreamId;

    /// <summary>
    /// Incoming bytes as a pipe, read straight from the stream's receive buffer; consuming them
    /// (<see cref="PipeReader.AdvanceTo(SequencePosition)"/>) opens the flow-control window. Completing it stops
    /// reading, like disposing the stream.
    /// </summary>
    public PipeReader Input => _input;

    /// <summary>
    /// Outgoing bytes as a pipe. <see cref="PipeWriter.FlushAsync(CancellationToken)"/> sends and waits while the send
    /// buffer is full (the peer is not reading). <see cref="PipeWriter.Complete(Exception?)"/> without an exception
    /// half-closes (FIN); with an exception it resets the stream.
    /// </summary>
    public PipeWriter Output => _output;

    /// <summary>
    /// Completes when the remote half-closed (data may still be waiting to be read); faults with
    /// <see cref="StreamResetException"/> or <see cref="MuxerClosedException"/> if the stream was reset or its connection
    /// ended first.
    /// </summary>
    public Task ReadsClosed => _inner.ReadsClosed;

    /// <summary>
    /// Completes when our FIN was written to the connection; faults with <see cref="StreamResetException"/> or
    /// <see cref="MuxerClosedException"/> if the stream was reset or its connection ended first.
    /// </summary>
    public Task WritesClosed => _inner.WritesClosed;

    /// <summary>
    /// Writes <paramref name="buffer"/> and, when <paramref name="completeWrites"/> is <see langword="true"/>,
    /// half-closes the stream (sends FIN) after it.
    /// </summary>
    /// <param name="buffer">The data to send. May be empty.</param>
    /// <param name="completeWrites">Whether this is the last write (then, on an optimistic stream, the peer's answer is awaited).</param>
    /// <param name="cancellationToken">Cancels waiting for send buffer space. A cancelled write may have sent part of the data.</param>
    /// <returns>A task that completes when the data is buffered for sending (not when the peer received it).</returns>
    /// <exception cref="StreamResetException">The stream was reset.</exception>
    /// <exception cref="MuxerClosedException">The connection ended.</exception>
    /// <exception cref="InvalidOperationException">Writes were already completed.</exception>
    /// <exception cref="ProtocolNotSupportedException">The peer refused the protocol of an optimistic stream.</exception>
    public ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, bool completeWrites, CancellationToken cancellationToken = default) =>
        _echo is null ? _inner.WriteAsync(buffer, completeWrites, cancellationToken) : WriteNegotiatingAsync(buffer, completeWrites, cancellationToken);

    /// <summary>
    /// Half-closes: sends FIN after the data already written; reading stays possible. Completing writes twice is harmless.
    /// </summary>
    /// <param name="cancellationToken">Cancels waiting for an optimistic stream's answer; FIN itself is queued without waiting.</param>
    /// <returns>A task that completes when FIN is queued (await <see cref="WritesClosed"/> to learn when it was sent) and,
    /// on an optimistic stream, the peer has confirmed the protocol.</returns>
    /// <exception cref="ProtocolNotSupportedException">The peer refused the protocol of an optimistic stream.</exception>
    public ValueTask CompleteWritesAsync(CancellationToken cancellationToken = default) =>
        _echo is null ? _inner.CompleteWritesAsync(cancellationToken) : CompleteWritesNegotiatingAsync(cancellationToken);

    /// <summary>
    /// Resets the stream in both directions (RST): pending and later reads and writes throw
    /// <see cref="StreamResetException"/> here and on the remote. Does nothing on a stream already closed both ways.
    /// </summary>
    public void Abort()
    {
        _aborted = true;
        _inner.Abort();
    }

    /// <inheritdoc />
    public override bool CanRead => true;

    /// <inheritdoc />
    public override bool CanWrite => true;

    /// <inheritdoc />
    public override bool CanSeek => false;

    /// <inheritdoc />
    public override long Length => throw new NotSupportedException("A network stream has no length.");

    /// <inheritdoc />
    public override long Position
    {
        get => throw new NotSupportedException("A network stream has no position.");
        set => throw new NotSupportedException("A network stream has no position.");
    }

    /// <inheritdoc />
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        _echo is null ? _inner.ReadAsync(buffer, cancellationToken) : ReadNegotiatingAsync(buffer, cancellationToken);

    /// <inheritdoc />
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc />
    public override int Read(byte[] buffer, int offset, int count)
    {
        if (_echo is not null)
        {
            // The synchronous Stream API blocks by contract (see remarks).
            EnsureNegotiatedAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult();
        }
        return _inner.Read(buffer, offset, count);
    }

    /// <inheritdoc />
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        WriteAsync(buffer, completeWrites: false, cancellationToken);

    /// <inheritdoc />
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), completeWrites: false, cancellationToken).AsTask();

    /// <inheritdoc />
    public override void Write(byte[] buffer, int offset, int count)
    {
        ThrowIfRefused();
        _inner.Write(buffer, offset, count);
    }

    /// <inheritdoc />
    public override void Flush() => ThrowIfRefused();

    /// <inheritdoc />
    public override Task FlushAsync(CancellationToken cancellationToken)
    {
        ThrowIfRefused();
        return _inner.FlushAsync(cancellationToken);
    }

    /// <inheritdoc />
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException("A network stream cannot seek.");

    /// <inheritdoc />
    public override void SetLength(long value) => throw new NotSupportedException("A network stream has no length.");

    /// <summary>
    /// Half-closes our side if it is still open and releases the stream. On an optimistic stream whose answer has not
    /// arrived, first waits for it (at most <see cref="P2PHostOptions.NegotiationTimeout"/>).
    /// </summary>
    /// <exception cref="ProtocolNotSupportedException">The peer refused the protocol of an optimistic stream and no
    /// earlier operation reported it (the stream is released all the same; likewise for the other negotiation failures
    /// listed on <see cref="EnsureNegotiatedAsync"/> except a reset).</exception>
    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        Exception? unreported = null;
        try
        {
            if (_echo is { } echo && !_aborted)
            {
                // A write-only protocol never reads: the answer is still owed, and a refusal must not pass unnoticed.
                Exception? failure = await echo.ConfigureAwait(false);
                // Only the negotiation's own failures: a reset or a closed connection shows in ReadsClosed/WritesClosed.
                if (failure is not null && IsNegotiationFailure(failure) && !_aborted && Interlocked.Exchange(ref _failureReported, 1) == 0)
                {
                    unreported = failure;
                }
            }
            await _inner.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            _onDisposed?.Invoke(this);
        }
        await base.DisposeAsync().ConfigureAwait(false);
        if (unreported is not null)
        {
            ExceptionDispatchInfo.Throw(unreported);
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            // Does not wait for an optimistic stream's answer: the background read ends when the inner stream's reads
            // are abandoned here.
            _inner.Dispose();
            _onDisposed?.Invoke(this);
        }
        base.Dispose(disposing);
    }

    /// <summary>The protocol, peer and stream id.</summary>
    public override string ToString() => $"{Protocol} with {(Connection is null ? "?" : RemotePeer)} (stream {StreamId})";

    /// <summary>Whether an optimistic stream's answer is known and positive; throws the failure if it is known and negative.</summary>
    internal bool IsConfirmed()
    {
        Task<Exception?>? echo = _echo;
        if (echo is null)
        {
            return true;
        }
        if (!echo.IsCompleted)
        {
            return false;
        }
        if (echo.Result is { } failure)
        {
            throw Report(failure);
        }
        _echo = null;
        return true;
    }

    /// <summary>
    /// Waits until the peer has confirmed <see cref="Protocol"/>: at once for an inbound stream or one negotiated among
    /// several protocols; on an optimistic stream, until the peer's answer arrived. Use it where a refusal must be known
    /// before anything is written (reads already wait for it).
    /// </summary>
    /// <param name="cancellationToken">Stops waiting; the answer is still read in the background.</param>
    /// <exception cref="ProtocolNotSupportedException">The peer refused the protocol.</exception>
    /// <exception cref="ProtocolViolationException">The peer answered with something else.</exception>
    /// <exception cref="EndOfStreamException">The peer closed its side before answering.</exception>
    /// <exception cref="TimeoutException">The peer did not answer within <see cref="P2PHostOptions.NegotiationTimeout"/>.</exception>
    /// <exception cref="StreamResetException">The stream was reset before the answer was read.</exception>
    public ValueTask EnsureNegotiatedAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            if (IsConfirmed())
            {
                return ValueTask.CompletedTask;
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return ValueTask.FromException(e);
        }
        return WaitForEchoAsync(cancellationToken);
    }

    /// <summary>Whether an optimistic stream's answer is known and positive; never throws.</summary>
    internal bool IsConfirmedQuietly() => _echo is not { } echo || (echo.IsCompleted && echo.Result is null);

    /// <summary>
    /// Waits for an optimistic stream's answer and returns its failure (the one the next operation would throw), or
    /// <see langword="null"/> once the peer confirmed; the peer's answer is never thrown. For callers that end quietly on
    /// a refusal or a connection closed under them: a failure thrown from the first read passes through every frame of
    /// the read path (pipe reader, length prefix, message loop), and on short-lived connections that is most of their
    /// cost of ending.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> stopped the wait.</exception>
    internal async ValueTask<Exception?> NegotiationFailureAsync(CancellationToken cancellationToken)
    {
        if (_echo is not { } echo)
        {
            return null;
        }
        Exception? failure = await echo.WaitAsync(cancellationToken).ConfigureAwait(false);
        return failure is null ? null : Report(failure);
    }

    /// <summary>Throws an optimistic stream's failure if it is known; does not wait.</summary>
    internal void ThrowIfRefused() => _ = IsConfirmed();

    /// <summary>When an operation on the inner stream failed because the answer's failure reset it, that failure (the
    /// background reader resets the stream just before its task completes, so this waits for the task).</summary>
    internal async ValueTask<Exception?> FailureBehindAsync(Exception error)
    {
        if (_aborted || error is not StreamResetException { IsRemote: false } || _echo is not { } echo)
        {
            return null;
        }
        return await echo.ConfigureAwait(false) is { } failure ? Report(failure) : null;
    }

    private async ValueTask WaitForEchoAsync(CancellationToken cancellationToken)
    {
        Task<Exception?>? echo = _echo;
        if (echo is null)
        {
            return;
        }
        await echo.WaitAsync(cancellationToken).ConfigureAwait(false);
        ThrowIfRefused();
    }

    private Exception Report(Exception failure)
    {
        Volatile.Write(ref _failureReported, 1);
        return failure;
    }

    private async ValueTask<int> ReadNegotiatingAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        await EnsureNegotiatedAsync(cancellationToken).ConfigureAwait(false);
        return await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask WriteNegotiatingAsync(ReadOnlyMemory<byte> buffer, bool completeWrites, CancellationToken cancellationToken)
    {
        ThrowIfRefused();
        try
        {
            await _inner.WriteAsync(buffer, completeWrites: false, cancellationToken).ConfigureAwait(false);
        }
        catch (StreamResetException e)
        {
            if (await FailureBehindAsync(e).ConfigureAwait(false) is { } failure)
            {
                ExceptionDispatchInfo.Throw(failure);
            }
            throw;
        }
        if (completeWrites)
        {
            await CompleteWritesNegotiatingAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    // FIN waits for the echo: a responder still negotiating can take our FIN for the end of a stream whose data it has
    // not handed to its handler yet (js-libp2p 3.x then closes the stream without reading that data).
    private async ValueTask CompleteWritesNegotiatingAsync(CancellationToken cancellationToken)
    {
        if (_echo is { } echo && await echo.WaitAsync(cancellationToken).ConfigureAwait(false) is { } failure
            && IsNegotiationFailure(failure))
        {
            throw Report(failure);
        }
        // Confirmed, or reset / connection gone: completing writes on such a stream is harmless, as it always was (the
        // reset shows in reads and ReadsClosed).
        await _inner.CompleteWritesAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A failure of the negotiation itself, as opposed to the stream or connection ending under it.</summary>
    private static bool IsNegotiationFailure(Exception failure) =>
        failure is not (StreamResetException or MuxerClosedException or ObjectDisposedException);

    /// <summary>
    /// <c>Output.Complete()</c> before the echo: sends FIN once the peer confirmed (see
    /// <see cref="CompleteWritesNegotiatingAsync"/>); after a failure the stream is already reset.
    /// </summary>
    internal void CompleteWritesAfterEcho(PipeWriter inner)
    {
        if (_echo is not { } echo)
        {
            inner.Complete();
            return;
        }
        // A synchronous continuation of the echo task, which the stream owns (DisposeAsync awaits it).
        _ = echo.ContinueWith(static (_, state) => ((PipeWriter)state!).Complete(), inner, CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }
}
