using System.IO.Pipelines;

namespace P2PNet.Muxing;

/// <summary>
/// One bidirectional stream of a multiplexed connection, usable as a .NET <see cref="Stream"/> and as an
/// <see cref="IDuplexPipe"/>.
/// </summary>
/// <remarks>
/// <para>
/// Each direction closes on its own. <see cref="CompleteWritesAsync"/> (or <c>Output.Complete()</c>, or
/// <see cref="WriteAsync(ReadOnlyMemory{byte}, bool, CancellationToken)"/> with <c>completeWrites: true</c>) sends
/// end-of-stream (FIN); the remote side reads to the end and can still write back. A read returns 0 (the
/// <see cref="PipeReader"/> reports <see cref="ReadResult.IsCompleted"/>) once the remote side has done the same.
/// <see cref="Abort"/> resets the stream (RST): both directions fail on both sides with <see cref="StreamResetException"/>.
/// Disposing the stream completes writes and stops reading: data that still arrives is discarded.
/// </para>
/// <para>
/// Thread safety: one reader and one writer may use the stream concurrently (for example one task reading while
/// another writes), but concurrent reads, or concurrent writes, are not supported. Use either the <see cref="Stream"/>
/// members or <see cref="Input"/>/<see cref="Output"/> for a direction, not both at once. <see cref="Abort"/> and
/// <see cref="IDisposable.Dispose"/> may be called from any thread at any time.
/// </para>
/// <para>
/// The synchronous <see cref="Stream"/> members (<see cref="Stream.Read(byte[], int, int)"/>,
/// <see cref="Stream.Write(byte[], int, int)"/>) block the calling thread until the asynchronous operation finishes;
/// prefer the asynchronous members.
/// </para>
/// </remarks>
public abstract class MuxedStream : Stream, IDuplexPipe
{
    /// <summary>The stream's identifier within its connection.</summary>
    public abstract long StreamId { get; }

    /// <summary>
    /// Writes <paramref name="buffer"/> and, when <paramref name="completeWrites"/> is <see langword="true"/>, half-closes
    /// the stream (sends FIN) after the data.
    /// </summary>
    /// <param name="buffer">The data to send. May be empty.</param>
    /// <param name="completeWrites">Whether this is the last write.</param>
    /// <param name="cancellationToken">Cancels waiting for send buffer space. A cancelled write may have sent part of the data.</param>
    /// <returns>A task that completes when the data is buffered for sending (not when the peer received it).</returns>
    /// <exception cref="StreamResetException">The stream was reset.</exception>
    /// <exception cref="MuxerClosedException">The connection ended.</exception>
    /// <exception cref="InvalidOperationException">Writes were already completed.</exception>
    public abstract ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, bool completeWrites, CancellationToken cancellationToken = default);

    /// <summary>
    /// Half-closes the stream: sends FIN after any data already written. Reading stays possible.
    /// Completing writes twice is harmless.
    /// </summary>
    /// <param name="cancellationToken">Reserved; FIN is queued without waiting.</param>
    /// <returns>A task that completes when FIN is queued; await <see cref="WritesClosed"/> to learn when it was sent.</returns>
    public abstract ValueTask CompleteWritesAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Resets the stream (sends RST). Pending and later reads and writes throw <see cref="StreamResetException"/>
    /// with <see cref="StreamResetException.IsRemote"/> <see langword="false"/> here and <see langword="true"/> on the
    /// remote side. Unsent and unread data is discarded. Does nothing on a stream already closed in both directions.
    /// </summary>
    public abstract void Abort();

    /// <summary>
    /// Completes when the remote side sent FIN (data may still be waiting to be read); faults with
    /// <see cref="StreamResetException"/> or <see cref="MuxerClosedException"/> if the stream was reset or its
    /// connection ended first.
    /// </summary>
    public abstract Task ReadsClosed { get; }

    /// <summary>
    /// Completes when this side's FIN was written to the connection; faults with <see cref="StreamResetException"/>
    /// or <see cref="MuxerClosedException"/> if the stream was reset or its connection ended first.
    /// </summary>
    public abstract Task WritesClosed { get; }

    /// <summary>
    /// The receiving side as a pipe. Data is read straight from the stream's receive buffer without another copy;
    /// consuming it (<see cref="PipeReader.AdvanceTo(SequencePosition)"/>) opens the flow-control window.
    /// Completing it stops reading, like disposing the stream.
    /// </summary>
    public abstract PipeReader Input { get; }

    /// <summary>
    /// The sending side as a pipe. <see cref="PipeWriter.FlushAsync(CancellationToken)"/> waits while the send buffer is
    /// full (the peer is not reading). <see cref="PipeWriter.Complete(Exception?)"/> without an exception half-closes
    /// (FIN); with an exception it resets the stream.
    /// </summary>
    public abstract PipeWriter Output { get; }
}
