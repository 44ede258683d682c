using System.IO.Pipelines;
using System.Runtime.ExceptionServices;
using P2PNet.Muxing;

namespace P2PNet.Host.Internal;

/// <summary>
/// <see cref="P2PStream.Output"/> of an optimistic stream: writes go out before the peer's multistream answer; once the
/// answer is a failure, flushes throw it (instead of the reset it caused).
/// </summary>
internal sealed class NegotiatingPipeWriter(P2PStream stream, PipeWriter inner) : PipeWriter
{
    public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

    public override long UnflushedBytes => inner.UnflushedBytes;

    public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

    public override void Advance(int bytes) => inner.Advance(bytes);

    public override void CancelPendingFlush() => inner.CancelPendingFlush();

    public override void Complete(Exception? exception = null)
    {
        if (exception is not null || stream.IsConfirmedQuietly())
        {
            inner.Complete(exception);
        }
        else
        {
            stream.CompleteWritesAfterEcho(inner);
        }
    }

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (stream.IsConfirmed())
        {
            return inner.FlushAsync(cancellationToken);
        }
        return TranslateAsync(inner.FlushAsync(cancellationToken));
    }

    public override ValueTask<FlushResult> WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
    {
        if (stream.IsConfirmed())
        {
            return inner.WriteAsync(source, cancellationToken);
        }
        return TranslateAsync(inner.WriteAsync(source, cancellationToken));
    }

    private async ValueTask<FlushResult> TranslateAsync(ValueTask<FlushResult> flush)
    {
        try
        {
            return await flush.ConfigureAwait(false);
        }
        catch (StreamResetException e)
        {
            if (await stream.FailureBehindAsync(e).ConfigureAwait(false) is { } failure)
            {
                ExceptionDispatchInfo.Throw(failure);
            }
            throw;
        }
    }
}
