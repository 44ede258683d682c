using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace P2PNet.Muxing.Yamux;

/// <summary>
/// <see cref="MuxedStream.Output"/>: the stream's send pipe writer, passed through, telling the session when data is
/// ready and turning completion into FIN (or, with an exception, RST).
/// </summary>
/// <remarks>
/// Backpressure comes from the send pipe: a flush waits while <see cref="YamuxOptions.StreamSendBufferSize"/> bytes are
/// unsent, which happens when the peer's window is exhausted.
/// </remarks>
internal sealed class YamuxStreamWriter : PipeWriter
{
    private readonly YamuxStream _stream;
    private readonly PipeWriter _inner;
    private readonly TimeSpan? _writeTimeout;
    private readonly TimeProvider _time;
    private int _completed;

    public YamuxStreamWriter(YamuxStream stream, PipeWriter inner, TimeSpan? writeTimeout, TimeProvider time)
    {
        _stream = stream;
        _inner = inner;
        _writeTimeout = writeTimeout;
        _time = time;
    }

    /// <summary>Whether the application completed this writer (FIN or reset requested).</summary>
    public bool IsCompleted => Volatile.Read(ref _completed) != 0;

    public override bool CanGetUnflushedBytes => _inner.CanGetUnflushedBytes;

    public override long UnflushedBytes => _inner.UnflushedBytes;

    public override Memory<byte> GetMemory(int sizeHint = 0) => _inner.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => _inner.GetSpan(sizeHint);

    public override void Advance(int bytes) => _inner.Advance(bytes);

    public override void CancelPendingFlush() => _inner.CancelPendingFlush();

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (_writeTimeout is { } timeout)
        {
            return FlushWithTimeoutAsync(null, timeout, cancellationToken);
        }

        // The flush commits synchronously and then, if the send buffer is full, waits; the write loop must hear about the
        // data before that wait or it would never drain it.
        ValueTask<FlushResult> flush = _inner.FlushAsync(cancellationToken);
        _stream.OnSendDataAvailable();
        return flush;
    }

    public override ValueTask<FlushResult> WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
    {
        if (_writeTimeout is { } timeout)
        {
            return FlushWithTimeoutAsync(source, timeout, cancellationToken);
        }

        ValueTask<FlushResult> write = _inner.WriteAsync(source, cancellationToken);
        _stream.OnSendDataAvailable();
        return write;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<FlushResult> FlushWithTimeoutAsync(ReadOnlyMemory<byte>? source, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var timeoutSource = new CancellationTokenSource(timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeoutSource.Token);
        ValueTask<FlushResult> flush = source is { } data ? _inner.WriteAsync(data, linked.Token) : _inner.FlushAsync(linked.Token);
        _stream.OnSendDataAvailable();
        try
        {
            return await flush.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timeoutSource.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            _stream.Abort();
            throw new TimeoutException(
                $"Writing to {_stream} waited longer than the write timeout ({timeout}) for the peer to read; the stream was reset.");
        }
    }

    public override void Complete(Exception? exception = null)
    {
        if (Interlocked.Exchange(ref _completed, 1) != 0)
        {
            return;
        }

        if (exception is not null)
        {
            // Completing with an error resets the stream; the error itself is not sent (yamux has no error codes per stream).
            _stream.Abort();
            _inner.Complete();
            return;
        }

        // Commits anything unflushed; the write loop sends it followed by FIN.
        _inner.Complete();
        _stream.OnSendDataAvailable();
    }

    public override ValueTask CompleteAsync(Exception? exception = null)
    {
        Complete(exception);
        return ValueTask.CompletedTask;
    }
}
