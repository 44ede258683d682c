using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace P2PNet.Muxing.Yamux;

// The System.IO.Stream face of the stream, built on Input and Output.
internal sealed partial class YamuxStream
{
    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException("A yamux stream has no length.");

    public override long Position
    {
        get => throw new NotSupportedException("A yamux stream cannot seek.");
        set => throw new NotSupportedException("A yamux stream cannot seek.");
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException("A yamux stream cannot seek.");

    public override void SetLength(long value) => throw new NotSupportedException("A yamux stream has no length.");

    // Writes are flushed by WriteAsync itself; there is nothing more to flush.
    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) =>
        cancellationToken.IsCancellationRequested ? Task.FromCanceled(cancellationToken) : Task.CompletedTask;

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        // Fast path: data already buffered.
        if (!buffer.IsEmpty && _input.TryRead(out ReadResult result))
        {
            if (!result.Buffer.IsEmpty || result.IsCompleted)
            {
                return new ValueTask<int>(CopyOut(result, buffer.Span));
            }

            _input.AdvanceTo(result.Buffer.Start);
            if (result.IsCanceled)
            {
                return ValueTask.FromException<int>(new OperationCanceledException("The pending read was canceled."));
            }
        }

        return ReadSlowAsync(buffer, cancellationToken);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> ReadSlowAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (true)
        {
            ReadResult result = await _input.ReadAsync(cancellationToken).ConfigureAwait(false);
            if (buffer.IsEmpty)
            {
                // A zero-byte read waits for data (or the end) without consuming any.
                _input.AdvanceTo(result.Buffer.Start);
                return 0;
            }

            if (result.Buffer.IsEmpty && !result.IsCompleted)
            {
                // Woken by CancelPendingRead with nothing to read.
                _input.AdvanceTo(result.Buffer.Start);
                if (result.IsCanceled)
                {
                    throw new OperationCanceledException("The pending read was canceled.");
                }

                continue;
            }

            return CopyOut(result, buffer.Span);
        }
    }

    private int CopyOut(in ReadResult result, Span<byte> destination)
    {
        ReadOnlySequence<byte> data = result.Buffer;
        int count = (int)Math.Min(data.Length, destination.Length);
        ReadOnlySequence<byte> taken = data.Slice(0, count);
        taken.CopyTo(destination);
        _input.AdvanceTo(taken.End);
        return count; // 0 only at the end of the stream
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        WriteAsync(buffer, completeWrites: false, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), completeWrites: false, cancellationToken).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, bool completeWrites, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_output.IsCompleted)
        {
            throw new InvalidOperationException($"Writes on {this} were already completed.");
        }

        if (buffer.IsEmpty)
        {
            if (completeWrites)
            {
                _output.Complete();
            }

            return ValueTask.CompletedTask;
        }

        return WriteChunksAsync(buffer, completeWrites, cancellationToken);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WriteChunksAsync(ReadOnlyMemory<byte> buffer, bool completeWrites, CancellationToken cancellationToken)
    {
        // Copy in pieces no larger than the send buffer so that one large write never doubles the memory it occupies.
        int chunkSize = _session.Options.StreamSendBufferSize;
        while (!buffer.IsEmpty)
        {
            ReadOnlyMemory<byte> chunk = buffer[..Math.Min(buffer.Length, chunkSize)];
            FlushResult flushed = await _output.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
            if (flushed.IsCanceled)
            {
                throw new OperationCanceledException("The pending write was canceled.");
            }

            buffer = buffer[chunk.Length..];
        }

        if (completeWrites)
        {
            _output.Complete();
        }
    }

    public override ValueTask CompleteWritesAsync(CancellationToken cancellationToken = default)
    {
        _output.Complete();
        return ValueTask.CompletedTask;
    }

    // The synchronous Stream members block on the asynchronous path, as System.Net.Quic.QuicStream does: Stream requires
    // them, and a multiplexed stream has no synchronous I/O underneath. The documentation steers callers to the async ones.
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!buffer.IsEmpty && _input.TryRead(out ReadResult result))
        {
            if (!result.Buffer.IsEmpty || result.IsCompleted)
            {
                return CopyOut(result, buffer);
            }

            _input.AdvanceTo(result.Buffer.Start);
        }

        byte[] rented = ArrayPool<byte>.Shared.Rent(buffer.Length);
        try
        {
            int read = ReadSlowAsync(rented.AsMemory(0, buffer.Length), CancellationToken.None).AsTask().GetAwaiter().GetResult();
            rented.AsSpan(0, read).CopyTo(buffer);
            return read;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    public override void Write(byte[] buffer, int offset, int count) =>
        WriteAsync(buffer.AsMemory(offset, count), completeWrites: false, CancellationToken.None).AsTask().GetAwaiter().GetResult();

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        byte[] rented = ArrayPool<byte>.Shared.Rent(buffer.Length);
        try
        {
            buffer.CopyTo(rented);
            Write(rented, 0, buffer.Length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }
}
