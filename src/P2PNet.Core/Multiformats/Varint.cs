using System.Buffers;

namespace P2PNet.Multiformats;

/// <summary>
/// Unsigned varints as the multiformats <c>unsigned-varint</c> spec defines them: little-endian groups of seven bits,
/// at most nine bytes (values below 2^63), minimal encoding only.
/// </summary>
/// <remarks>Readers return <see langword="false"/> when more input is needed and throw
/// <see cref="WireFormatException"/> when the input can never become a valid varint.</remarks>
public static class Varint
{
    /// <summary>The longest encoding the spec allows, in bytes.</summary>
    public const int MaxLength = 9;

    /// <summary>The largest value that fits in <see cref="MaxLength"/> bytes.</summary>
    public const ulong MaxValue = (1UL << 63) - 1;

    /// <summary>The number of bytes <paramref name="value"/> takes when encoded.</summary>
    public static int GetByteCount(ulong value)
    {
        int count = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            count++;
        }
        return count;
    }

    /// <summary>Writes <paramref name="value"/> to <paramref name="destination"/> and returns the bytes written.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value exceeds <see cref="MaxValue"/>.</exception>
    /// <exception cref="ArgumentException">The destination is too short.</exception>
    public static int Write(Span<byte> destination, ulong value)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(value, MaxValue);
        int needed = GetByteCount(value);
        if (destination.Length < needed)
        {
            throw new ArgumentException($"The destination needs {needed} bytes for the varint.", nameof(destination));
        }
        int i = 0;
        while (value >= 0x80)
        {
            destination[i++] = (byte)(value | 0x80);
            value >>= 7;
        }
        destination[i++] = (byte)value;
        return i;
    }

    /// <summary>Writes <paramref name="value"/> to <paramref name="writer"/>.</summary>
    public static void Write(IBufferWriter<byte> writer, ulong value)
    {
        ArgumentNullException.ThrowIfNull(writer);
        int written = Write(writer.GetSpan(MaxLength), value);
        writer.Advance(written);
    }

    /// <summary>Encodes <paramref name="value"/> into a new array.</summary>
    public static byte[] Encode(ulong value)
    {
        var bytes = new byte[GetByteCount(value)];
        Write(bytes, value);
        return bytes;
    }

    /// <summary>Reads a varint from the start of <paramref name="source"/>.</summary>
    /// <returns><see langword="true"/> with the value and its length; <see langword="false"/> when <paramref name="source"/> ends before the varint does.</returns>
    /// <exception cref="WireFormatException">The varint is longer than nine bytes or not minimally encoded.</exception>
    public static bool TryRead(ReadOnlySpan<byte> source, out ulong value, out int bytesConsumed)
    {
        value = 0;
        for (int i = 0; i < source.Length; i++)
        {
            if (i == MaxLength)
            {
                throw new WireFormatException($"Varint is longer than {MaxLength} bytes.");
            }
            byte b = source[i];
            value |= (ulong)(b & 0x7F) << (7 * i);
            if (b < 0x80)
            {
                if (b == 0 && i > 0)
                {
                    throw new WireFormatException("Varint is not minimally encoded.");
                }
                bytesConsumed = i + 1;
                return true;
            }
        }
        if (source.Length >= MaxLength)
        {
            throw new WireFormatException($"Varint is longer than {MaxLength} bytes.");
        }
        value = 0;
        bytesConsumed = 0;
        return false;
    }

    /// <summary>Reads a varint from <paramref name="reader"/>, advancing it only on success.</summary>
    /// <returns><see langword="false"/> when the sequence ends before the varint does (the reader is not advanced).</returns>
    /// <exception cref="WireFormatException">The varint is longer than nine bytes or not minimally encoded.</exception>
    public static bool TryRead(ref SequenceReader<byte> reader, out ulong value)
    {
        Span<byte> scratch = stackalloc byte[MaxLength];
        int available = (int)Math.Min(reader.Remaining, MaxLength);
        if (!reader.TryCopyTo(scratch[..available]))
        {
            value = 0;
            return false;
        }
        if (TryRead(scratch[..available], out value, out int consumed))
        {
            reader.Advance(consumed);
            return true;
        }
        return false;
    }

    /// <summary>Reads a complete varint from the start of <paramref name="source"/>.</summary>
    /// <exception cref="WireFormatException">The input ends inside the varint, or the varint is malformed.</exception>
    public static ulong Read(ReadOnlySpan<byte> source, out int bytesConsumed)
    {
        if (!TryRead(source, out ulong value, out bytesConsumed))
        {
            throw new WireFormatException(source.IsEmpty ? "Expected a varint but the input is empty." : "The input ends inside a varint.");
        }
        return value;
    }

    /// <summary>Reads a varint that must fit in an <see cref="int"/> (a length or a code).</summary>
    /// <exception cref="WireFormatException">The input is truncated, malformed, or the value exceeds <see cref="int.MaxValue"/>.</exception>
    public static int ReadInt32(ReadOnlySpan<byte> source, out int bytesConsumed)
    {
        ulong value = Read(source, out bytesConsumed);
        if (value > int.MaxValue)
        {
            throw new WireFormatException($"Varint value {value} is too large.");
        }
        return (int)value;
    }
}
