using System.Buffers;
using System.Buffers.Binary;

namespace P2PNet.Security.Noise.Internal;

/// <summary>
/// libp2p Noise framing (libp2p/specs noise/README.md, "Wire Format"): a 16-bit big-endian length, then that many
/// bytes of Noise message. Pure; every length 0–65535 is well-formed, so parsing never fails, it only waits.
/// </summary>
internal static class NoiseFrame
{
    /// <summary>The size of the length prefix.</summary>
    public const int HeaderLength = 2;

    /// <summary>The largest Noise message, tag included.</summary>
    public const int MaxMessageLength = ushort.MaxValue;

    /// <summary>The largest plaintext one transport message carries.</summary>
    public const int MaxPlaintextLength = MaxMessageLength - CipherState.TagLength;

    /// <summary>Reads the length prefix at the start of <paramref name="buffer"/>, or returns <see langword="false"/> if it is incomplete.</summary>
    public static bool TryReadLength(in ReadOnlySequence<byte> buffer, out int length)
    {
        if (buffer.Length < HeaderLength)
        {
            length = 0;
            return false;
        }
        ReadOnlySpan<byte> first = buffer.FirstSpan;
        if (first.Length >= HeaderLength)
        {
            length = BinaryPrimitives.ReadUInt16BigEndian(first);
        }
        else
        {
            Span<byte> header = stackalloc byte[HeaderLength];
            buffer.Slice(0, HeaderLength).CopyTo(header);
            length = BinaryPrimitives.ReadUInt16BigEndian(header);
        }
        return true;
    }

    /// <summary>Parses one frame from the start of <paramref name="buffer"/>.</summary>
    /// <returns><see langword="true"/> with the Noise message (a slice of <paramref name="buffer"/>) and
    /// <paramref name="buffer"/> advanced past it; <see langword="false"/> when more bytes are needed.</returns>
    public static bool TryParse(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> message)
    {
        if (!TryReadLength(buffer, out int length) || buffer.Length < HeaderLength + length)
        {
            message = default;
            return false;
        }
        message = buffer.Slice(HeaderLength, length);
        buffer = buffer.Slice(message.End);
        return true;
    }

    /// <summary>Writes the length prefix of a message of <paramref name="length"/> bytes.</summary>
    public static void WriteHeader(Span<byte> destination, int length)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)length, (uint)MaxMessageLength, nameof(length));
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)length);
    }
}
