using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace P2PNet.Proxy.UdpBridge.Internal;

/// <summary>
/// One datagram frame of the bridge's wire contract, as parsed from a WebSocket binary message:
/// <c>[family: 1 byte, 4 or 6][address: 4 or 16 bytes][port: 2 bytes big-endian][payload]</c>.
/// </summary>
/// <remarks>
/// Browser → bridge the address names the destination; bridge → browser it names the source.
/// The codec is pure: it reads from and writes to spans, never allocates and never does I/O.
/// Every malformed input throws <see cref="WireFormatException"/> and nothing else.
/// </remarks>
internal readonly ref struct UdpBridgeFrame
{
    /// <summary>Family byte for an IPv4 address (4 address bytes follow).</summary>
    public const byte FamilyIPv4 = 4;

    /// <summary>Family byte for an IPv6 address (16 address bytes follow).</summary>
    public const byte FamilyIPv6 = 6;

    /// <summary>Header length of an IPv4 frame: family + 4 address bytes + port.</summary>
    public const int IPv4HeaderLength = 1 + 4 + 2;

    /// <summary>Header length of an IPv6 frame: family + 16 address bytes + port.</summary>
    public const int IPv6HeaderLength = 1 + 16 + 2;

    /// <summary>The longest header; a buffer with this much headroom can take either family's header.</summary>
    public const int MaxHeaderLength = IPv6HeaderLength;

    private UdpBridgeFrame(ReadOnlySpan<byte> address, ushort port, ReadOnlySpan<byte> payload)
    {
        Address = address;
        Port = port;
        Payload = payload;
    }

    /// <summary>The 4 (IPv4) or 16 (IPv6) address bytes in network order.</summary>
    public ReadOnlySpan<byte> Address { get; }

    /// <summary>The UDP port.</summary>
    public ushort Port { get; }

    /// <summary>The datagram payload (may be empty).</summary>
    public ReadOnlySpan<byte> Payload { get; }

    /// <summary>The address family named by the frame.</summary>
    public AddressFamily Family => Address.Length == 4 ? AddressFamily.InterNetwork : AddressFamily.InterNetworkV6;

    /// <summary>The length of this frame's header; the payload starts at this offset in the message.</summary>
    public int HeaderLength => Address.Length == 4 ? IPv4HeaderLength : IPv6HeaderLength;

    /// <summary>Parses one complete WebSocket message as a frame.</summary>
    /// <param name="message">The whole binary message.</param>
    /// <returns>The frame, whose spans point into <paramref name="message"/>.</returns>
    /// <exception cref="WireFormatException">The message is shorter than its header or names an unknown family.</exception>
    public static UdpBridgeFrame Read(ReadOnlySpan<byte> message)
    {
        if (message.IsEmpty)
        {
            throw new WireFormatException("Empty message: a datagram frame starts with a family byte (4 or 6).");
        }

        int addressLength = message[0] switch
        {
            FamilyIPv4 => 4,
            FamilyIPv6 => 16,
            _ => throw new WireFormatException($"Bad address family byte {message[0]}: expected 4 (IPv4) or 6 (IPv6)."),
        };

        int headerLength = 1 + addressLength + 2;
        if (message.Length < headerLength)
        {
            throw new WireFormatException(
                $"Short header: an IPv{message[0]} frame needs {headerLength} header bytes, the message has {message.Length}.");
        }

        ushort port = BinaryPrimitives.ReadUInt16BigEndian(message.Slice(1 + addressLength, 2));
        return new UdpBridgeFrame(message.Slice(1, addressLength), port, message[headerLength..]);
    }

    /// <summary>The header length for an address of <paramref name="addressLength"/> bytes (4 or 16).</summary>
    public static int GetHeaderLength(int addressLength) => addressLength switch
    {
        4 => IPv4HeaderLength,
        16 => IPv6HeaderLength,
        _ => throw new ArgumentOutOfRangeException(nameof(addressLength), addressLength, "An address is 4 or 16 bytes."),
    };

    /// <summary>Writes a frame header for <paramref name="address"/> and <paramref name="port"/>.</summary>
    /// <param name="destination">Where to write; at least <see cref="GetHeaderLength"/> bytes.</param>
    /// <param name="address">4 (IPv4) or 16 (IPv6) address bytes in network order.</param>
    /// <param name="port">The UDP port.</param>
    /// <returns>The number of bytes written.</returns>
    public static int WriteHeader(Span<byte> destination, ReadOnlySpan<byte> address, ushort port)
    {
        int headerLength = GetHeaderLength(address.Length);
        if (destination.Length < headerLength)
        {
            throw new ArgumentException($"The destination needs {headerLength} bytes for the header.", nameof(destination));
        }

        destination[0] = address.Length == 4 ? FamilyIPv4 : FamilyIPv6;
        address.CopyTo(destination[1..]);
        BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(1 + address.Length, 2), port);
        return headerLength;
    }

    /// <summary>Writes a whole frame (header and payload) to <paramref name="writer"/>.</summary>
    /// <param name="writer">The buffer to append to.</param>
    /// <param name="endPoint">The address and port the frame names; an IPv4-mapped IPv6 address is written as IPv4.</param>
    /// <param name="payload">The datagram payload.</param>
    public static void Write(IBufferWriter<byte> writer, IPEndPoint endPoint, ReadOnlySpan<byte> payload)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(endPoint);

        IPAddress address = endPoint.Address.IsIPv4MappedToIPv6 ? endPoint.Address.MapToIPv4() : endPoint.Address;
        Span<byte> addressBytes = stackalloc byte[16];
        if (!address.TryWriteBytes(addressBytes, out int addressLength))
        {
            throw new ArgumentException("The address could not be written.", nameof(endPoint));
        }

        int headerLength = GetHeaderLength(addressLength);
        Span<byte> span = writer.GetSpan(headerLength + payload.Length);
        WriteHeader(span, addressBytes[..addressLength], (ushort)endPoint.Port);
        payload.CopyTo(span[headerLength..]);
        writer.Advance(headerLength + payload.Length);
    }

    /// <summary>The frame's address and port as an <see cref="IPEndPoint"/> (allocates; for tests and tools).</summary>
    public IPEndPoint ToEndPoint() => new(new IPAddress(Address), Port);
}
