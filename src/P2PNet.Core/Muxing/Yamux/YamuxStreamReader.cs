using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace P2PNet.Muxing.Yamux;

/// <summary>
/// <see cref="MuxedStream.Input"/>: the stream's receive pipe reader, passed through, counting the bytes the application
/// consumes so that the stream can return window to the peer.
/// </summary>
internal sealed class YamuxStreamReader : PipeReader
{
    private readonly YamuxStream _stream;
    private readonly PipeReader _inner;
    private ReadOnlySequence<byte> _lastBuffer;
    private bool _completed;

    public YamuxStreamReader(YamuxStream stream, PipeReader inner)
    {
        _stream = stream;
        _inner = inner;
    }

    public override bool TryRead(out ReadResult result)
    {
        _stream.ThrowIfReset();
        if (_inner.TryRead(out result))
        {
            _lastBuffer = result.Buffer;
            return true;
        }

        return false;
    }

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        _stream.ThrowIfReset();
        ValueTask<ReadResult> read = _inner.ReadAsync(cancellationToken);
        if (read.IsCompletedSuccessfully)
        {
            ReadResult result = read.Result;
            _lastBuffer = result.Buffer;
            return new ValueTask<ReadResult>(result);
        }

        return AwaitReadAsync(read);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ReadResult> AwaitReadAsync(ValueTask<ReadResult> read)
    {
        ReadResult result = await read.ConfigureAwait(false);
        _lastBuffer = result.Buffer;
        return result;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        long bytes = _lastBuffer.Slice(_lastBuffer.Start, consumed).Length;
        _lastBuffer = default;
        _inner.AdvanceTo(consumed, examined);
        _stream.OnConsumed(bytes);
    }

    public override void CancelPendingRead() => _inner.CancelPendingRead();

    public override void Complete(Exception? exception = null)
    {
        if (_completed)
        {
            return;
        }

        _completed = true;
        _lastBuffer = default;
        _inner.Complete(exception);
        _stream.OnReaderCompleted();
    }
}
