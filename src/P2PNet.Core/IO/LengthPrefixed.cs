using System.Buffers;
using System.IO.Pipelines;
using P2PNet.Multiformats;

namespace P2PNet.IO;

/// <summary>
/// Messages framed by an unsigned-varint length, as libp2p protocols carry protobufs and multistream lines.
/// Every reader enforces a maximum message size so a hostile peer cannot make memory grow.
/// </summary>
public static class LengthPrefixed
{
    /// <summary>Parses one message from the start of <paramref name="buffer"/>.</summary>
    /// <returns><see langword="true"/> with the message (a slice of <paramref name="buffer"/>) and <paramref name="buffer"/>
    /// advanced past it; <see langword="false"/> when more bytes are needed.</returns>
    /// <exception cref="WireFormatException">The length prefix is malformed or exceeds <paramref name="maxSize"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxSize"/> is negative.</exception>
    public static bool TryParse(ref ReadOnlySequence<byte> buffer, int maxSize, out ReadOnlySequence<byte> message)
    {
        // A negative limit would otherwise turn into "no limit" when compared as an unsigned length.
        ArgumentOutOfRangeException.ThrowIfNegative(maxSize);
        var reader = new SequenceReader<byte>(buffer);
        message = default;
        if (!Varint.TryRead(ref reader, out ulong length))
        {
            return false;
        }
        if (length > (ulong)maxSize)
        {
            throw new WireFormatException($"Message of {length} bytes exceeds the {maxSize}-byte limit.");
        }
        if (reader.Remaining < (long)length)
        {
            return false;
        }
        message = buffer.Slice(reader.Position, (long)length);
        buffer = buffer.Slice(message.End);
        return true;
    }

    /// <summary>Reads one message and returns a copy of it, or <see langword="null"/> when the input ends cleanly before it.</summary>
    /// <exception cref="WireFormatException">The frame is malformed, too large, or the input ends inside it.</exception>
    public static async ValueTask<byte[]?> ReadAsync(PipeReader reader, int maxSize, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentOutOfRangeException.ThrowIfNegative(maxSize);
        while (true)
        {
            ReadResult result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            bool parsed;
            ReadOnlySequence<byte> message;
            try
            {
                parsed = TryParse(ref buffer, maxSize, out message);
            }
            catch
            {
                reader.AdvanceTo(result.Buffer.Start);
                throw;
            }
            if (parsed)
            {
                byte[] copy = message.ToArray();
                reader.AdvanceTo(buffer.Start);
                return copy;
            }
            if (result.IsCompleted || result.IsCanceled)
            {
                bool empty = result.Buffer.IsEmpty;
                reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
                if (result.IsCanceled)
                {
                    throw new OperationCanceledException("The read was cancelled.");
                }
                return empty ? null : throw new WireFormatException("The input ended inside a length-prefixed message.");
            }
            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    /// <summary>Writes the length prefix and <paramref name="message"/> without flushing.</summary>
    public static void Write(IBufferWriter<byte> writer, ReadOnlySpan<byte> message)
    {
        ArgumentNullException.ThrowIfNull(writer);
        Varint.Write(writer, (ulong)message.Length);
        writer.Write(message);
    }

    /// <summary>Writes the length prefix and <paramref name="message"/>, then flushes.</summary>
    public static async ValueTask WriteAsync(PipeWriter writer, ReadOnlyMemory<byte> message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(writer);
        Write(writer, message.Span);
        await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
    }
}
