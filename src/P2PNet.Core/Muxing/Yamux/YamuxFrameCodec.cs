using System.Buffers;
using System.Buffers.Binary;

namespace P2PNet.Muxing.Yamux;

/// <summary>
/// Pure, allocation-free encoding and decoding of Yamux frame headers
/// (<see href="https://github.com/libp2p/specs/blob/master/yamux/README.md#framing">yamux spec, "Framing"</see>).
/// </summary>
/// <remarks>
/// Only the header is parsed here. A Data frame's payload follows its header on the wire and is sliced off by the caller,
/// which may consume it in pieces as it arrives.
/// </remarks>
internal static class YamuxFrameCodec
{
    /// <summary>Size of a frame header in bytes.</summary>
    public const int HeaderSize = 12;

    /// <summary>The only protocol version (spec: "Version Field").</summary>
    public const byte ProtocolVersion = 0;

    /// <summary>
    /// Parses one header from the start of <paramref name="buffer"/> and slices it off.
    /// </summary>
    /// <returns><see langword="false"/> when fewer than <see cref="HeaderSize"/> bytes are buffered (nothing is consumed).</returns>
    /// <exception cref="WireFormatException">The version is not 0 or the type is unknown.</exception>
    public static bool TryReadHeader(ref ReadOnlySequence<byte> buffer, out YamuxFrameHeader header)
    {
        if (buffer.Length < HeaderSize)
        {
            header = default;
            return false;
        }

        ReadOnlySequence<byte> headerBytes = buffer.Slice(0, HeaderSize);
        if (headerBytes.IsSingleSegment)
        {
            header = ReadHeader(headerBytes.FirstSpan);
        }
        else
        {
            Span<byte> copy = stackalloc byte[HeaderSize];
            headerBytes.CopyTo(copy);
            header = ReadHeader(copy);
        }

        buffer = buffer.Slice(headerBytes.End);
        return true;
    }

    /// <summary>Parses a header from exactly the first <see cref="HeaderSize"/> bytes of <paramref name="source"/>.</summary>
    /// <exception cref="WireFormatException">The version is not 0, the type is unknown, or <paramref name="source"/> is too short.</exception>
    public static YamuxFrameHeader ReadHeader(ReadOnlySpan<byte> source)
    {
        if (source.Length < HeaderSize)
        {
            throw new WireFormatException($"A yamux frame header is {HeaderSize} bytes; got {source.Length}.");
        }

        if (source[0] != ProtocolVersion)
        {
            throw new WireFormatException($"Unsupported yamux version {source[0]}; only version {ProtocolVersion} exists.");
        }

        byte type = source[1];
        if (type > (byte)YamuxFrameType.GoAway)
        {
            throw new WireFormatException($"Unknown yamux frame type {type}.");
        }

        return new YamuxFrameHeader(
            (YamuxFrameType)type,
            (YamuxFrameFlags)BinaryPrimitives.ReadUInt16BigEndian(source[2..]),
            BinaryPrimitives.ReadUInt32BigEndian(source[4..]),
            BinaryPrimitives.ReadUInt32BigEndian(source[8..]));
    }

    /// <summary>Writes <paramref name="header"/> into the first <see cref="HeaderSize"/> bytes of <paramref name="destination"/>.</summary>
    public static void WriteHeader(Span<byte> destination, in YamuxFrameHeader header)
    {
        if (destination.Length < HeaderSize)
        {
            throw new ArgumentException($"The destination must hold at least {HeaderSize} bytes.", nameof(destination));
        }

        destination[0] = ProtocolVersion;
        destination[1] = (byte)header.Type;
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)header.Flags);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], header.StreamId);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], header.Length);
    }

    /// <summary>Writes <paramref name="header"/> to <paramref name="writer"/> and advances it.</summary>
    public static void WriteHeader(IBufferWriter<byte> writer, in YamuxFrameHeader header)
    {
        WriteHeader(writer.GetSpan(HeaderSize), header);
        writer.Advance(HeaderSize);
    }
}
