using P2PNet.Multistream;
using P2PNet.Muxing;

namespace P2PNet.Host.Internal;

/// <summary>
/// The background half of an optimistic (go-multistream "lazy") outbound stream: reads the peer's answer to the
/// proposal that <see cref="MultistreamSelect.ProposeAsync"/> sent, while the application already writes.
/// </summary>
internal static class OptimisticNegotiation
{
    /// <summary>
    /// Reads the peer's answer to a single proposal. Never faults: the result is <see langword="null"/> when the peer
    /// echoed <paramref name="protocol"/>, and otherwise the error the stream's next operation throws, after the stream
    /// was reset.
    /// </summary>
    /// <param name="muxed">The stream; only this method reads it until the task completes.</param>
    /// <param name="protocol">The protocol proposed.</param>
    /// <param name="peer">The peer's name for messages.</param>
    /// <param name="timeout">How long the peer has to answer (<see cref="P2PHostOptions.NegotiationTimeout"/>).</param>
    /// <param name="closing">Cancelled when the connection closes.</param>
    /// <returns>
    /// <see cref="ProtocolNotSupportedException"/> for <c>na</c>; <see cref="ProtocolViolationException"/> or
    /// <see cref="WireFormatException"/> for another answer; <see cref="EndOfStreamException"/> when the peer closed its
    /// side first; <see cref="TimeoutException"/> after <paramref name="timeout"/>; <see cref="MuxerClosedException"/>
    /// when the connection closed; <see cref="StreamResetException"/> when either side reset the stream first (a reset
    /// discards unread data, so a peer that answers and resets at once — a refusing responder that cannot parse the data
    /// sent after the proposal, or one over its stream budget — shows as a reset, not as its answer).
    /// </returns>
    public static async Task<Exception?> ReadEchoAsync(MuxedStream muxed, string protocol, string peer, TimeSpan timeout, CancellationToken closing)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(closing);
        deadline.CancelAfter(timeout);
        try
        {
            await MultistreamSelect.ReadEchoAsync(muxed.Input, protocol, deadline.Token).ConfigureAwait(false);
            return null;
        }
#pragma warning disable CA1031 // every failure is handed to the stream, which throws it from the caller's next operation
        catch (Exception e)
#pragma warning restore CA1031
        {
            Exception failure = e switch
            {
                OperationCanceledException when closing.IsCancellationRequested =>
                    new MuxerClosedException($"The connection to {peer} closed before it answered {protocol}.", e),
                OperationCanceledException =>
                    new TimeoutException($"{peer} did not negotiate {protocol} within {timeout.TotalSeconds:0.#} s."),
                _ => e,
            };
            muxed.Abort();
            return failure;
        }
    }
}
