using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using P2PNet.IO;

namespace P2PNet.Multistream;

/// <summary>
/// The multistream-select 1.0 message codec: an unsigned-varint length (counting the trailing newline), UTF-8 text,
/// then <c>'\n'</c>. Pure: parses from <see cref="ReadOnlySequence{T}"/>, writes to <see cref="IBufferWriter{T}"/>.
/// </summary>
/// <remarks>Spec: multiformats/multistream-select README and libp2p/specs connections/README.md
/// ("Protocol Negotiation"). The length limit matches go-multistream's, so a hostile peer cannot make a reader
/// buffer more than <see cref="MaxLength"/> bytes per message.</remarks>
internal static class MultistreamMessage
{
    /// <summary>The header both sides send first.</summary>
    public const string ProtocolId = "/multistream/1.0.0";

    /// <summary>The answer to a proposal the responder does not support.</summary>
    public const string NotAvailable = "na";

    /// <summary>The request for the responder's protocol list (we answer it with <see cref="NotAvailable"/>).</summary>
    public const string List = "ls";

    /// <summary>The largest length prefix accepted, newline included.</summary>
    public const int MaxLength = 1024;

    /// <summary>The longest protocol id, in UTF-8 bytes, that fits in a message.</summary>
    public const int MaxProtocolIdLength = MaxLength - 1;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The encoded header message, <c>0x13 "/multistream/1.0.0\n"</c>.</summary>
    internal static ReadOnlySpan<byte> EncodedHeader => HeaderBytes;

    private static readonly byte[] HeaderBytes = [0x13, .. "/multistream/1.0.0\n"u8];

    /// <summary>Parses one message from the start of <paramref name="buffer"/>.</summary>
    /// <returns><see langword="true"/> with the text (without its newline) and <paramref name="buffer"/> advanced past
    /// the message; <see langword="false"/> when more bytes are needed (<paramref name="buffer"/> unchanged).</returns>
    /// <exception cref="WireFormatException">The length is malformed or above <see cref="MaxLength"/>, the newline is
    /// missing, the text holds another newline, or it is not UTF-8.</exception>
    public static bool TryParse(ref ReadOnlySequence<byte> buffer, [NotNullWhen(true)] out string? message)
    {
        message = null;
        var remaining = buffer;
        if (!LengthPrefixed.TryParse(ref remaining, MaxLength, out ReadOnlySequence<byte> body))
        {
            return false;
        }
        int length = (int)body.Length;
        Span<byte> scratch = stackalloc byte[MaxLength];
        scoped ReadOnlySpan<byte> bytes;
        if (body.IsSingleSegment)
        {
            bytes = body.FirstSpan;
        }
        else
        {
            body.CopyTo(scratch);
            bytes = scratch[..length];
        }
        if (bytes.IsEmpty || bytes[^1] != (byte)'\n')
        {
            throw new WireFormatException("A multistream-select message must end with a newline.");
        }
        bytes = bytes[..^1];
        if (bytes.Contains((byte)'\n'))
        {
            throw new WireFormatException("A multistream-select message holds a newline before its end.");
        }
        try
        {
            message = StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new WireFormatException("A multistream-select message is not valid UTF-8.", e);
        }
        buffer = remaining;
        return true;
    }

    /// <summary>Writes <paramref name="message"/> with its length prefix and newline.</summary>
    /// <exception cref="ArgumentException">The text holds a newline or is longer than <see cref="MaxProtocolIdLength"/> bytes.</exception>
    public static void Write(IBufferWriter<byte> writer, string message)
    {
        ArgumentNullException.ThrowIfNull(writer);
        int textLength = Validate(message, nameof(message));
        int length = textLength + 1;
        Multiformats.Varint.Write(writer, (ulong)length);
        Span<byte> span = writer.GetSpan(length);
        int written = StrictUtf8.GetBytes(message, span);
        span[written] = (byte)'\n';
        writer.Advance(length);
    }

    /// <summary>Checks that <paramref name="protocolId"/> can be sent and returns its UTF-8 length.</summary>
    /// <exception cref="ArgumentException">It is empty, holds a newline, or is too long.</exception>
    public static int ValidateProtocolId(string protocolId, string paramName)
    {
        if (string.IsNullOrEmpty(protocolId))
        {
            throw new ArgumentException("A protocol id cannot be empty.", paramName);
        }
        return Validate(protocolId, paramName);
    }

    /// <summary>
    /// Checks the multistream header at the start of <paramref name="buffer"/> byte by byte, so a peer that speaks
    /// something else fails at its first wrong byte instead of after a whole (possibly never-ending) message.
    /// </summary>
    /// <returns><see langword="true"/> with <paramref name="end"/> just after the header when it is complete;
    /// <see langword="false"/> when the bytes so far are a correct but partial header.</returns>
    /// <exception cref="ProtocolViolationException">The bytes are not the multistream 1.0.0 header.</exception>
    public static bool TryMatchHeader(ReadOnlySequence<byte> buffer, out SequencePosition end)
    {
        ReadOnlySpan<byte> expected = EncodedHeader;
        var reader = new SequenceReader<byte>(buffer);
        for (int i = 0; i < expected.Length; i++)
        {
            if (!reader.TryRead(out byte b))
            {
                end = default;
                return false;
            }
            if (b != expected[i])
            {
                throw new ProtocolViolationException($"expected the multistream-select header '{ProtocolId}', got {Describe(buffer)}.");
            }
        }
        end = reader.Position;
        return true;
    }

    private static int Validate(string message, string paramName)
    {
        ArgumentNullException.ThrowIfNull(message, paramName);
        if (message.Contains('\n', StringComparison.Ordinal))
        {
            throw new ArgumentException("A multistream-select message cannot hold a newline.", paramName);
        }
        int byteCount;
        try
        {
            byteCount = StrictUtf8.GetByteCount(message);
        }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException("A multistream-select message must be valid UTF-16 (no lone surrogates).", paramName, e);
        }
        if (byteCount > MaxProtocolIdLength)
        {
            throw new ArgumentException($"A multistream-select message holds at most {MaxProtocolIdLength} UTF-8 bytes, not {byteCount}.", paramName);
        }
        return byteCount;
    }

    /// <summary>Describes unexpected input for an error message: the message text if it parses, else its first bytes.</summary>
    private static string Describe(ReadOnlySequence<byte> buffer)
    {
        try
        {
            var copy = buffer;
            if (TryParse(ref copy, out string? text))
            {
                return $"'{text}'";
            }
        }
        catch (WireFormatException)
        {
            // Not a multistream message at all: fall back to the raw bytes.
        }
        var head = buffer.Slice(0, Math.Min(buffer.Length, 16)).ToArray();
        return $"bytes {Convert.ToHexString(head)}";
    }
}
