using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace P2PNet.Proxy.UdpBridge.Internal;

/// <summary>
/// What the bridge keeps per client address (an IPv4 address or an IPv6 /64): connections in their handshake, clients,
/// and the browser → UDP token buckets all its clients share.
/// </summary>
/// <remarks>
/// Counts change under the <see cref="ClientAddressTable"/>'s lock; the buckets under this object's own lock, taken once
/// per datagram by the clients of this one address only.
/// </remarks>
internal sealed class ClientAddress
{
    private readonly Lock _bucketLock = new();
    private TokenBucket _datagrams;
    private TokenBucket _bytes;

    public ClientAddress(UInt128 key, long now, int datagramsPerSecond, int bytesPerSecond)
    {
        Key = key;
        _datagrams = new TokenBucket(now, datagramsPerSecond);
        _bytes = new TokenBucket(now, bytesPerSecond);
    }

    /// <summary>The address group, as computed by <see cref="KeyOf"/>.</summary>
    public UInt128 Key { get; }

    /// <summary>Connections from this address in their opening handshake; under the table's lock.</summary>
    public int Handshakes { get; set; }

    /// <summary>Clients from this address; under the table's lock.</summary>
    public int Clients { get; set; }

    /// <summary>
    /// The group an address belongs to: an IPv4 address (also written IPv4-mapped) is its own group, an IPv6 address
    /// belongs to its /64, the usual assignment to one subscriber (RFC 6177), which a host can fill with addresses at will.
    /// </summary>
    public static UInt128 KeyOf(IPAddress? address)
    {
        if (address is null)
        {
            return UInt128.Zero;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        Span<byte> bytes = stackalloc byte[16];
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            address.TryWriteBytes(bytes[12..], out _);
            bytes[10] = 0xff;
            bytes[11] = 0xff;
            return BinaryPrimitives.ReadUInt128BigEndian(bytes);
        }

        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return BinaryPrimitives.ReadUInt128BigEndian(bytes);
    }

    /// <summary>Takes one datagram of <paramref name="payloadLength"/> bytes from the shared buckets, or nothing.</summary>
    public bool TryTake(int payloadLength, int datagramsPerSecond, int bytesPerSecond, long now, long frequency)
    {
        if (datagramsPerSecond <= 0 && bytesPerSecond <= 0)
        {
            return true;
        }

        lock (_bucketLock)
        {
            _datagrams.Refill(datagramsPerSecond, now, frequency);
            _bytes.Refill(bytesPerSecond, now, frequency);
            if (!_datagrams.Has(1, datagramsPerSecond) || !_bytes.Has(payloadLength, bytesPerSecond))
            {
                return false;
            }

            _datagrams.Take(1, datagramsPerSecond);
            _bytes.Take(payloadLength, bytesPerSecond);
            return true;
        }
    }
}
