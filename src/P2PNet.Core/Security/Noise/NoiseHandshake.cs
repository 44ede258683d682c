using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using P2PNet.Crypto;
using P2PNet.Peers;
using P2PNet.Security.Noise.Internal;

namespace P2PNet.Security.Noise;

/// <summary>
/// Runs the libp2p Noise XX handshake (libp2p/specs noise/README.md) over a raw connection and returns the secured
/// channel. The responder sends its signed payload in message 2, the initiator in message 3.
/// </summary>
/// <remarks>
/// <para>On any failure — a bad signature, a peer id other than the one dialed, a truncated or garbled message,
/// the timeout of <see cref="NoiseOptions.HandshakeTimeout"/> or cancellation — both sides of the transport pipe are
/// completed (the connection is dropped) and the error is thrown; a <see cref="NoiseHandshakeException"/> except on
/// the caller's own cancellation.</para>
/// <para>Reads consume exactly the handshake frames: transport data the remote pipelined behind message 3 stays in
/// the transport for the channel.</para>
/// <para>The static X25519 key and the identity's signature over it come from the caller's <see cref="NoiseIdentity"/>,
/// made once per host and shared by all its handshakes (the spec allows it); only the ephemeral key is generated per
/// handshake, and wiped with the handshake state. The remote's signature is checked on every handshake.</para>
/// </remarks>
internal static partial class NoiseHandshake
{
    /// <summary>The protocol id negotiated with multistream-select.</summary>
    public const string ProtocolId = NoiseSecurityProtocol.Id;

    /// <summary>Secures an outbound (dialed) connection; we are the Noise initiator.</summary>
    /// <param name="transport">The raw connection.</param>
    /// <param name="identity">Our identity key, static key and signature over it.</param>
    /// <param name="expectedRemote">The peer we dialed, or <see langword="null"/> to accept any peer.</param>
    /// <param name="options">Timeout and announced muxers.</param>
    /// <param name="logger">Where handshake events go.</param>
    /// <param name="cancellationToken">Cancels the handshake (and drops the connection).</param>
    /// <exception cref="NoiseHandshakeException">The handshake failed; the connection was dropped.</exception>
    public static ValueTask<NoiseSecureChannel> SecureOutboundAsync(IDuplexPipe transport, NoiseIdentity identity, PeerId? expectedRemote, NoiseOptions options, ILogger logger, CancellationToken cancellationToken) =>
        RunAsync(initiator: true, transport, identity, expectedRemote, options, logger, cancellationToken);

    /// <summary>Secures an inbound (accepted) connection; we are the Noise responder.</summary>
    /// <inheritdoc cref="SecureOutboundAsync" path="/param"/>
    /// <exception cref="NoiseHandshakeException">The handshake failed; the connection was dropped.</exception>
    public static ValueTask<NoiseSecureChannel> SecureInboundAsync(IDuplexPipe transport, NoiseIdentity identity, NoiseOptions options, ILogger logger, CancellationToken cancellationToken) =>
        RunAsync(initiator: false, transport, identity, expectedRemote: null, options, logger, cancellationToken);

    private static async ValueTask<NoiseSecureChannel> RunAsync(bool initiator, IDuplexPipe transport, NoiseIdentity identity, PeerId? expectedRemote, NoiseOptions options, ILogger logger, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logger);
        string direction = initiator ? "outbound" : "inbound";
        long started = Stopwatch.GetTimestamp();
        NoiseLog.HandshakeStarted(logger, direction);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (options.HandshakeTimeout != Timeout.InfiniteTimeSpan)
        {
            timeout.CancelAfter(options.HandshakeTimeout);
        }
        try
        {
            using var state = new HandshakeState(initiator, prologue: [], identity.StaticKey);
            byte[] payload = CreatePayload(identity, options);
            RemoteIdentity remote;
            if (initiator)
            {
                await WriteMessageAsync(transport.Output, state, ReadOnlyMemory<byte>.Empty, timeout.Token).ConfigureAwait(false);
                byte[] responderPayload = await ReadMessageAsync(transport.Input, state, timeout.Token).ConfigureAwait(false);
                remote = VerifyPayload(responderPayload, state.RemoteStaticKey, expectedRemote);
                await WriteMessageAsync(transport.Output, state, payload, timeout.Token).ConfigureAwait(false);
            }
            else
            {
                // Message 1 carries no payload in libp2p; anything there is in clear and ignored.
                await ReadMessageAsync(transport.Input, state, timeout.Token).ConfigureAwait(false);
                await WriteMessageAsync(transport.Output, state, payload, timeout.Token).ConfigureAwait(false);
                byte[] initiatorPayload = await ReadMessageAsync(transport.Input, state, timeout.Token).ConfigureAwait(false);
                remote = VerifyPayload(initiatorPayload, state.RemoteStaticKey, expectedRemote: null);
            }

            var (send, receive) = state.Split();
            var channel = new NoiseSecureChannel(transport, send, receive, remote.PublicKey, remote.PeerId, remote.Muxers, logger) { LocalPeer = identity.LocalPeer };
            channel.Start();
            if (logger.IsEnabled(LogLevel.Debug))
            {
                // The joined list is built only for a logger that keeps the line: every connection passes here.
                NoiseLog.HandshakeCompleted(logger, remote.PeerId, Stopwatch.GetElapsedTime(started).TotalMilliseconds, direction, string.Join(",", remote.Muxers));
            }
            return channel;
        }
        catch (Exception e)
        {
            Exception error = e switch
            {
                OperationCanceledException when cancellationToken.IsCancellationRequested => e,
                OperationCanceledException when timeout.IsCancellationRequested =>
                    new NoiseHandshakeException($"The Noise handshake did not complete within {options.HandshakeTimeout.TotalSeconds:0.###} s.", e),
                NoiseHandshakeException => e,
                _ => new NoiseHandshakeException($"The Noise handshake failed: {e.Message}", e),
            };
            NoiseLog.HandshakeFailed(logger, direction, error.Message, error);
            await DropAsync(transport, error).ConfigureAwait(false);
            if (ReferenceEquals(error, e))
            {
                throw;
            }
            throw error;
        }
    }

    private static async ValueTask WriteMessageAsync(PipeWriter output, HandshakeState state, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        int length = state.GetMessageLength(payload.Length);
        if (length > NoiseFrame.MaxMessageLength)
        {
            throw new InvalidOperationException($"Handshake message {state.NextMessage} would be {length} bytes, above the {NoiseFrame.MaxMessageLength}-byte limit.");
        }
        Span<byte> frame = output.GetSpan(NoiseFrame.HeaderLength + length);
        NoiseFrame.WriteHeader(frame, length);
        int written = state.WriteMessage(payload.Span, frame[NoiseFrame.HeaderLength..]);
        Debug.Assert(written == length);
        output.Advance(NoiseFrame.HeaderLength + length);
        FlushResult flush = await output.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (flush.IsCompleted || flush.IsCanceled)
        {
            throw new NoiseHandshakeException($"The connection closed before handshake message {state.NextMessage - 1} could be sent.");
        }
    }

    private static async ValueTask<byte[]> ReadMessageAsync(PipeReader input, HandshakeState state, CancellationToken cancellationToken)
    {
        int number = state.NextMessage;
        int minimum = HandshakeState.MinimumLength(number);
        while (true)
        {
            ReadResult result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            // Fail on a too-short length at once rather than waiting for the bytes it announces.
            if (NoiseFrame.TryReadLength(buffer, out int declared) && declared < minimum)
            {
                input.AdvanceTo(buffer.Start);
                throw new NoiseHandshakeException($"Noise handshake message {number} is {declared} bytes, shorter than the {minimum} bytes XX requires.");
            }
            if (NoiseFrame.TryParse(ref buffer, out ReadOnlySequence<byte> message))
            {
                // Copy out and take the length before AdvanceTo: after it the pipe may recycle the segments.
                int length = (int)message.Length;
                byte[] rented = ArrayPool<byte>.Shared.Rent(length);
                try
                {
                    message.CopyTo(rented);
                    input.AdvanceTo(buffer.Start); // exactly this frame: later bytes belong to the channel
                    return state.ReadMessage(rented.AsSpan(0, length));
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(rented);
                    ArrayPool<byte>.Shared.Return(rented);
                }
            }
            input.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCanceled)
            {
                throw new OperationCanceledException("The handshake read was cancelled.");
            }
            if (result.IsCompleted)
            {
                throw new NoiseHandshakeException(buffer.IsEmpty
                    ? $"The remote closed the connection before sending Noise handshake message {number}."
                    : $"The remote closed the connection in the middle of Noise handshake message {number} (truncated after {buffer.Length} bytes).");
            }
        }
    }

    private static async ValueTask DropAsync(IDuplexPipe transport, Exception error)
    {
        try
        {
            await transport.Input.CompleteAsync(error).ConfigureAwait(false);
            await transport.Output.CompleteAsync(error).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The connection is being dropped because it already failed; a second failure adds nothing.
        }
    }
}
