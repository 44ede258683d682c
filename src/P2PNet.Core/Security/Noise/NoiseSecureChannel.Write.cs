using System.Buffers;
using System.IO.Pipelines;
using P2PNet.Security.Noise.Internal;

namespace P2PNet.Security.Noise;

/// <summary>The encrypt loop: plaintext from <see cref="Output"/> → transport frames.</summary>
internal sealed partial class NoiseSecureChannel
{
    /// <summary>Plaintext encrypted per transport flush: full frames, one flush, bounded transport buffering.</summary>
    private const int OutboundBatchBytes = 256 * 1024;

    private async Task EncryptLoopAsync()
    {
        PipeReader plaintext = _outbound.Reader;
        PipeWriter transport = _transport.Output;
        Exception? error = null;
        try
        {
            while (true)
            {
                ReadResult result = await plaintext.ReadAsync().ConfigureAwait(false);
                ReadOnlySequence<byte> buffer = result.Buffer;
                if (Volatile.Read(ref _abortReason) is { } aborted)
                {
                    plaintext.AdvanceTo(buffer.Start);
                    error = aborted;
                    break;
                }
                ReadOnlySequence<byte> rest = buffer.IsEmpty ? buffer : EncryptBatch(buffer, transport);
                plaintext.AdvanceTo(rest.Start);
                if (!buffer.IsEmpty)
                {
                    FlushResult flush = await transport.FlushAsync().ConfigureAwait(false);
                    if (Volatile.Read(ref _abortReason) is { } abortedDuringFlush)
                    {
                        error = abortedDuringFlush;
                        break;
                    }
                    if (flush.IsCompleted)
                    {
                        error = new IOException("The connection stopped accepting data; the Noise channel cannot send any more.");
                        break;
                    }
                }
                if (result.IsCompleted && rest.IsEmpty)
                {
                    break; // the application completed Output and everything is sent
                }
            }
        }
        catch (Exception e)
        {
            error = e;
        }
        // The application's next write fails with the reason; the remote sees our half-close (or the failure).
        await plaintext.CompleteAsync(error is null or IOException ? error : new IOException($"The Noise channel cannot send: {error.Message}", error)).ConfigureAwait(false);
        try
        {
            await transport.CompleteAsync(error).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // A connection that fails while being completed is closed either way.
        }
    }

    /// <summary>
    /// Encrypts up to <see cref="OutboundBatchBytes"/> of <paramref name="plaintext"/> into full-size frames written
    /// straight into the transport's memory, and returns what is left.
    /// </summary>
    private ReadOnlySequence<byte> EncryptBatch(ReadOnlySequence<byte> plaintext, PipeWriter transport)
    {
        int budget = OutboundBatchBytes;
        while (!plaintext.IsEmpty && budget > 0)
        {
            int length = (int)Math.Min(plaintext.Length, NoiseFrame.MaxPlaintextLength);
            int messageLength = length + CipherState.TagLength;
            Span<byte> frame = transport.GetSpan(NoiseFrame.HeaderLength + messageLength);
            NoiseFrame.WriteHeader(frame, messageLength);
            Span<byte> ciphertext = frame.Slice(NoiseFrame.HeaderLength, length);
            Span<byte> tag = frame.Slice(NoiseFrame.HeaderLength + length, CipherState.TagLength);
            ReadOnlySpan<byte> first = plaintext.FirstSpan;
            if (first.Length >= length)
            {
                _send.Encrypt(first[..length], ciphertext, tag);
            }
            else
            {
                // The frame's plaintext straddles segments: gather it where its ciphertext goes and encrypt in place.
                plaintext.Slice(0, length).CopyTo(ciphertext);
                _send.Encrypt(ciphertext, ciphertext, tag);
            }
            transport.Advance(NoiseFrame.HeaderLength + messageLength);
            plaintext = plaintext.Slice(length);
            budget -= length;
        }
        return plaintext;
    }
}
