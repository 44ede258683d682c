using System.Buffers;
using System.IO.Pipelines;

namespace P2PNet.Proxy.UdpBridge.Internal;

/// <summary>
/// A <see cref="Stream"/> over a connection's <see cref="IDuplexPipe"/>, for <see cref="System.Net.WebSockets.WebSocket.CreateFromStream(Stream, System.Net.WebSockets.WebSocketCreationOptions)"/>.
/// </summary>
/// <remarks>
/// A read waits in <see cref="PipeReader.ReadAsync"/>, which holds no buffer of its own, so an idle websocket costs no
/// receive buffer. One reader and one writer may use it concurrently, as a websocket does.
/// </remarks>
internal sealed class DuplexPipeStream(IDuplexPipe pipe) : Stream
{
    /// <summary>Most bytes held back by <see cref="DeferFlush"/> before a write flushes anyway.</summary>
    public const int MaxDeferredBytes = 16 * 1024;

    private readonly PipeReader _input = pipe.Input;
    private readonly PipeWriter _output = pipe.Output;
    // Writes come from the websocket (frames, pings, pongs, close) and from FlushDeferredAsync: one at a time.
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private volatile bool _disposed;
    private int _unflushedBytes;

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            ReadResult result = await _input.ReadAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> data = result.Buffer;
            if (result.IsCanceled || _disposed)
            {
                // Disposal (a websocket abort) cancels the pending read; end of stream tells the websocket it is over.
                _input.AdvanceTo(data.Start);
                return 0;
            }

            if (!data.IsEmpty)
            {
                // A zero-byte read completes when data is there and consumes nothing.
                int count = (int)Math.Min(buffer.Length, data.Length);
                data.Slice(0, count).CopyTo(buffer.Span);
                _input.AdvanceTo(data.GetPosition(count));
                return count;
            }

            _input.AdvanceTo(data.End);
            if (result.IsCompleted)
            {
                return 0;
            }
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (DeferFlush && _unflushedBytes + buffer.Length <= MaxDeferredBytes)
            {
                // More frames follow at once: copy into the pipe and let the last one (or FlushDeferredAsync) send all.
                // Bounded, so a flood still meets the pipe's backpressure at every MaxDeferredBytes.
                _output.Write(buffer.Span);
                _unflushedBytes += buffer.Length;
                return;
            }

            FlushResult result = await _output.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            _unflushedBytes = 0;
            if (result.IsCanceled)
            {
                throw new OperationCanceledException("The write was canceled.");
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>
    /// While set, writes are buffered in the pipe without a flush: the bridge sets it while more datagrams are already
    /// queued, so a burst leaves in one send instead of one per frame. Clear it, then call
    /// <see cref="FlushDeferredAsync"/>, before waiting for more.
    /// </summary>
    public bool DeferFlush { get; set; }

    /// <summary>Sends what deferred writes left in the pipe.</summary>
    public async ValueTask FlushDeferredAsync(CancellationToken cancellationToken = default)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_unflushedBytes > 0)
            {
                _unflushedBytes = 0;
                await _output.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>
    /// The websocket flushes after every frame it writes; while <see cref="DeferFlush"/> is set that flush is
    /// deferred too, and <see cref="FlushDeferredAsync"/> sends the burst.
    /// </summary>
    public override Task FlushAsync(CancellationToken cancellationToken) =>
        DeferFlush ? Task.CompletedTask : FlushDeferredAsync(cancellationToken).AsTask();

    public override void Flush() => throw new NotSupportedException("Synchronous I/O is not supported.");

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("Synchronous I/O is not supported.");

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("Synchronous I/O is not supported.");

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>Wakes a pending read or flush; the connection itself is closed by Kestrel when the handler returns.</summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _input.CancelPendingRead();
            _output.CancelPendingFlush();
        }

        base.Dispose(disposing);
    }
}
