using System.Buffers;
using System.IO.Pipelines;

namespace P2PNet.Multistream;

/// <summary>
/// multistream-select 1.0 negotiation over a duplex pipe: the initiator proposes protocols in order, the responder
/// echoes the first one it supports or answers <c>na</c>.
/// </summary>
/// <remarks>
/// <para>Spec: libp2p/specs connections/README.md ("Protocol Negotiation") and multiformats/multistream-select.</para>
/// <para>Reads consume exactly the negotiation messages: bytes the remote sent after its last message (a Noise
/// handshake, application data) stay unread in <see cref="IDuplexPipe.Input"/> for the next layer.</para>
/// <para>Neither method has a timeout of its own: pass a token that cancels after one. A remote that speaks something
/// else fails at its first wrong byte; one that stalls is stopped by the token.</para>
/// </remarks>
internal static class MultistreamSelect
{
    /// <summary>Proposals a responder answers before giving up on the remote.</summary>
    public const int MaxProposals = 32;

    /// <summary>
    /// Negotiates as the initiator: proposes <paramref name="protocols"/> in order and returns the first one the remote
    /// accepts. The header and the first proposal go out in one flush, as go-multistream does.
    /// </summary>
    /// <exception cref="ProtocolNotSupportedException">The remote answered <c>na</c> to every proposal.</exception>
    /// <exception cref="ProtocolViolationException">The remote sent a wrong header or an answer other than the proposal or <c>na</c>.</exception>
    /// <exception cref="WireFormatException">A message from the remote is malformed.</exception>
    /// <exception cref="EndOfStreamException">The remote closed the connection before answering.</exception>
    /// <exception cref="ArgumentException">A protocol id is empty, too long, or holds a newline, or the list is empty.</exception>
    public static async ValueTask<string> SelectAsync(IDuplexPipe pipe, IReadOnlyList<string> protocols, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(pipe);
        ArgumentNullException.ThrowIfNull(protocols);
        if (protocols.Count == 0)
        {
            throw new ArgumentException("Propose at least one protocol.", nameof(protocols));
        }
        foreach (string protocol in protocols)
        {
            MultistreamMessage.ValidateProtocolId(protocol, nameof(protocols));
        }

        MultistreamMessage.Write(pipe.Output, MultistreamMessage.ProtocolId);
        MultistreamMessage.Write(pipe.Output, protocols[0]);
        await FlushAsync(pipe.Output, cancellationToken).ConfigureAwait(false);
        await ReadHeaderAsync(pipe.Input, cancellationToken).ConfigureAwait(false);

        for (int i = 0; ; )
        {
            string answer = await ReadMessageAsync(pipe.Input, cancellationToken).ConfigureAwait(false);
            if (string.Equals(answer, protocols[i], StringComparison.Ordinal))
            {
                return answer;
            }
            if (!string.Equals(answer, MultistreamMessage.NotAvailable, StringComparison.Ordinal))
            {
                throw new ProtocolViolationException($"we proposed '{protocols[i]}' and it answered '{answer}' instead of echoing it or 'na'.");
            }
            if (++i == protocols.Count)
            {
                throw new ProtocolNotSupportedException(protocols);
            }
            MultistreamMessage.Write(pipe.Output, protocols[i]);
            await FlushAsync(pipe.Output, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The optimistic ("lazy") initiator's first half: writes the header and the single proposal
    /// <paramref name="protocol"/> and flushes them without waiting for the answer, so application data can follow at
    /// once. Pair with <see cref="ReadEchoAsync"/> before the first application read.
    /// </summary>
    /// <remarks>
    /// This is what go-multistream's lazy client does. The price is that data written before the echo arrives is lost if
    /// the remote refuses (the stream is then reset), and a refusing remote reads that data as further proposals.
    /// </remarks>
    /// <exception cref="ArgumentException"><paramref name="protocol"/> is empty, too long, or holds a newline.</exception>
    public static ValueTask ProposeAsync(PipeWriter output, string protocol, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(output);
        MultistreamMessage.ValidateProtocolId(protocol, nameof(protocol));
        MultistreamMessage.Write(output, MultistreamMessage.ProtocolId);
        MultistreamMessage.Write(output, protocol);
        return FlushAsync(output, cancellationToken);
    }

    /// <summary>
    /// The optimistic initiator's second half: reads the remote's header and its answer to the single proposal written
    /// by <see cref="ProposeAsync"/>, consuming exactly those two messages (application data after them stays unread).
    /// </summary>
    /// <exception cref="ProtocolNotSupportedException">The remote answered <c>na</c>.</exception>
    /// <exception cref="ProtocolViolationException">The remote sent a wrong header or an answer other than the proposal or <c>na</c>.</exception>
    /// <exception cref="WireFormatException">A message from the remote is malformed.</exception>
    /// <exception cref="EndOfStreamException">The remote closed its side before answering.</exception>
    public static async ValueTask ReadEchoAsync(PipeReader input, string protocol, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        await ReadHeaderAsync(input, cancellationToken).ConfigureAwait(false);
        string answer = await ReadMessageAsync(input, cancellationToken).ConfigureAwait(false);
        if (string.Equals(answer, protocol, StringComparison.Ordinal))
        {
            return;
        }
        if (string.Equals(answer, MultistreamMessage.NotAvailable, StringComparison.Ordinal))
        {
            throw new ProtocolNotSupportedException([protocol]);
        }
        throw new ProtocolViolationException($"we proposed '{protocol}' and it answered '{answer}' instead of echoing it or 'na'.");
    }

    /// <summary>
    /// Negotiates as the responder: answers <c>na</c> to proposals <paramref name="isSupported"/> rejects (and to
    /// <c>ls</c>), echoes the first supported one and returns it.
    /// </summary>
    /// <exception cref="ProtocolViolationException">The remote sent a wrong header or more than <see cref="MaxProposals"/> proposals.</exception>
    /// <exception cref="WireFormatException">A message from the remote is malformed.</exception>
    /// <exception cref="EndOfStreamException">The remote closed the connection before agreeing on a protocol.</exception>
    public static async ValueTask<string> ListenAsync(IDuplexPipe pipe, Func<string, bool> isSupported, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(pipe);
        ArgumentNullException.ThrowIfNull(isSupported);

        MultistreamMessage.Write(pipe.Output, MultistreamMessage.ProtocolId);
        await FlushAsync(pipe.Output, cancellationToken).ConfigureAwait(false);
        await ReadHeaderAsync(pipe.Input, cancellationToken).ConfigureAwait(false);

        for (int i = 0; i < MaxProposals; i++)
        {
            string proposal = await ReadMessageAsync(pipe.Input, cancellationToken).ConfigureAwait(false);
            bool accepted = proposal.Length > 0
                && !string.Equals(proposal, MultistreamMessage.List, StringComparison.Ordinal)
                && !string.Equals(proposal, MultistreamMessage.NotAvailable, StringComparison.Ordinal)
                && isSupported(proposal);
            MultistreamMessage.Write(pipe.Output, accepted ? proposal : MultistreamMessage.NotAvailable);
            await FlushAsync(pipe.Output, cancellationToken).ConfigureAwait(false);
            if (accepted)
            {
                return proposal;
            }
        }
        throw new ProtocolViolationException($"it proposed {MaxProposals} protocols without agreeing on one.");
    }

    private static async ValueTask FlushAsync(PipeWriter output, CancellationToken cancellationToken)
    {
        FlushResult flush = await output.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (flush.IsCanceled)
        {
            throw new OperationCanceledException("The multistream-select write was cancelled.");
        }
        if (flush.IsCompleted)
        {
            throw new IOException("The connection stopped accepting data during multistream-select negotiation.");
        }
    }

    private static async ValueTask ReadHeaderAsync(PipeReader input, CancellationToken cancellationToken)
    {
        while (true)
        {
            ReadResult result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            bool complete;
            SequencePosition end;
            try
            {
                complete = MultistreamMessage.TryMatchHeader(buffer, out end);
            }
            catch
            {
                input.AdvanceTo(buffer.Start);
                throw;
            }
            if (complete)
            {
                input.AdvanceTo(end);
                return;
            }
            input.AdvanceTo(buffer.Start, buffer.End);
            ThrowIfEnded(result);
        }
    }

    private static async ValueTask<string> ReadMessageAsync(PipeReader input, CancellationToken cancellationToken)
    {
        while (true)
        {
            ReadResult result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            bool parsed;
            string? message;
            try
            {
                parsed = MultistreamMessage.TryParse(ref buffer, out message);
            }
            catch
            {
                input.AdvanceTo(result.Buffer.Start);
                throw;
            }
            if (parsed)
            {
                // Consume exactly this message; anything after it belongs to the next layer.
                input.AdvanceTo(buffer.Start);
                return message!;
            }
            input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            ThrowIfEnded(result);
        }
    }

    private static void ThrowIfEnded(ReadResult result)
    {
        if (result.IsCanceled)
        {
            throw new OperationCanceledException("The multistream-select read was cancelled.");
        }
        if (result.IsCompleted)
        {
            throw result.Buffer.IsEmpty
                ? new EndOfStreamException("The remote closed the connection during multistream-select negotiation.")
                : new ProtocolViolationException("the connection ended inside a multistream-select message.");
        }
    }
}
