using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using P2PNet.Security.Noise.Internal;

namespace P2PNet.Security.Noise;

/// <summary>The decrypt loop: transport frames → plaintext in <see cref="Input"/>.</summary>
internal sealed partial class NoiseSecureChannel
{
    /// <summary>
    /// Plaintext decrypted per transport read. Consuming the transport in small steps lets the remote side (or the
    /// encrypt loop of an in-process peer) refill it while we decrypt, instead of taking turns.
    /// </summary>
    private const int InboundBatchBytes = 128 * 1024;

    private async Task DecryptLoopAsync()
    {
        PipeReader transport = _transport.Input;
        PipeWriter plaintext = _inbound.Writer;
        Exception? error = null;
        try
        {
            while (true)
            {
                ReadResult result = await transport.ReadAsync().ConfigureAwait(false);
                ReadOnlySequence<byte> buffer = result.Buffer;
                if (result.IsCanceled && (_disposing || Volatile.Read(ref _abortReason) is not null))
                {
                    transport.AdvanceTo(buffer.Start);
                    error = Volatile.Read(ref _abortReason);
                    break;
                }

                int decrypted = 0;
                bool budgetSpent = false;
                while (NoiseFrame.TryParse(ref buffer, out ReadOnlySequence<byte> frame))
                {
                    decrypted += DecryptFrame(frame, plaintext);
                    if (decrypted >= InboundBatchBytes)
                    {
                        budgetSpent = true;
                        break;
                    }
                }
                if (budgetSpent)
                {
                    transport.AdvanceTo(buffer.Start); // more whole frames may wait: the next read returns at once
                }
                else
                {
                    transport.AdvanceTo(buffer.Start, buffer.End);
                }
                if (decrypted > 0)
                {
                    FlushResult flush = await plaintext.FlushAsync().ConfigureAwait(false);
                    if (flush.IsCompleted || (flush.IsCanceled && _disposing))
                    {
                        break; // the application completed Input, or the channel is being disposed
                    }
                }
                if (result.IsCompleted && !budgetSpent)
                {
                    if (!buffer.IsEmpty)
                    {
                        throw new ProtocolViolationException($"the connection ended in the middle of a Noise frame ({buffer.Length} bytes left over).");
                    }
                    break; // clean end of the remote's data
                }
            }
        }
        catch (CryptographicException e)
        {
            error = new ProtocolViolationException("a Noise transport frame failed authentication (decryption failed); the channel was closed.", e);
            Abort(error);
        }
        catch (ProtocolViolationException e)
        {
            error = e;
            Abort(e);
        }
        catch (Exception e)
        {
            // The transport failed (e.g. a reset); reads end with its error, writes may still drain.
            error = e;
        }
        await plaintext.CompleteAsync(error).ConfigureAwait(false);
        await CompleteQuietlyAsync(transport, error).ConfigureAwait(false);
    }

    /// <summary>Decrypts one transport message straight into the pipe's memory and returns the plaintext length.</summary>
    private int DecryptFrame(in ReadOnlySequence<byte> frame, PipeWriter plaintext)
    {
        if (frame.Length < CipherState.TagLength)
        {
            throw new ProtocolViolationException($"a Noise transport frame of {frame.Length} bytes is shorter than its 16-byte tag.");
        }
        int length = (int)frame.Length - CipherState.TagLength;
        Span<byte> destination = plaintext.GetSpan(length)[..length];
        if (frame.IsSingleSegment)
        {
            ReadOnlySpan<byte> message = frame.FirstSpan;
            _receive.Decrypt(message[..length], message[length..], destination);
        }
        else
        {
            // The frame straddles transport segments: gather it into the destination and decrypt in place.
            Span<byte> tag = stackalloc byte[CipherState.TagLength];
            frame.Slice(0, length).CopyTo(destination);
            frame.Slice(length).CopyTo(tag);
            _receive.Decrypt(destination, tag, destination);
        }
        plaintext.Advance(length);
        return length;
    }

    private static async ValueTask CompleteQuietlyAsync(PipeReader reader, Exception? error)
    {
        try
        {
            await reader.CompleteAsync(error).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // Completing a reader over a dead connection may fail; the channel is closing either way.
        }
    }
}
