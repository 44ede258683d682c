using System.IO.Pipelines;

namespace P2PNet.Host.Internal;

/// <summary>
/// <see cref="P2PStream.Input"/> of an optimistic stream: the first read waits for the peer's multistream answer (read
/// by the stream's background echo reader from the same pipe) and throws its failure; later reads go straight through.
/// </summary>
/// <remarks>
/// <see cref="CancelPendingRead"/> before the answer is known is remembered and returned by the read that follows the
/// answer: cancelling the inner pipe then would cancel the echo reader instead.
/// </remarks>
internal sealed class NegotiatingPipeReader(P2PStream stream, PipeReader inner) : PipeReader
{
    private volatile bool _cancelRequested;

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        ValueTask negotiated = stream.EnsureNegotiatedAsync(cancellationToken);
        return negotiated.IsCompletedSuccessfully && !_cancelRequested ? inner.ReadAsync(cancellationToken) : ReadAfterAnswerAsync(negotiated, cancellationToken);
    }

    private async ValueTask<ReadResult> ReadAfterAnswerAsync(ValueTask negotiated, CancellationToken cancellationToken)
    {
        await negotiated.ConfigureAwait(false);
        if (_cancelRequested)
        {
            _cancelRequested = false;
            return new ReadResult(default, isCanceled: true, isCompleted: false);
        }
        return await inner.ReadAsync(cancellationToken).ConfigureAwait(false);
    }

    public override bool TryRead(out ReadResult result)
    {
        if (!stream.IsConfirmed())
        {
            result = default;
            return false;
        }
        return inner.TryRead(out result);
    }

    public override void AdvanceTo(SequencePosition consumed) => inner.AdvanceTo(consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => inner.AdvanceTo(consumed, examined);

    public override void CancelPendingRead()
    {
        if (stream.IsConfirmedQuietly())
        {
            inner.CancelPendingRead();
        }
        else
        {
            _cancelRequested = true;
        }
    }

    public override void Complete(Exception? exception = null) => inner.Complete(exception);
}
