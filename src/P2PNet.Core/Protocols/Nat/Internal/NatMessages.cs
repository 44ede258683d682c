using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;
using Google.Protobuf;
using P2PNet.Host;
using P2PNet.IO;
using P2PNet.Multiformats;

namespace P2PNet.Protocols.Nat.Internal;

/// <summary>uvarint-length-prefixed protobufs of AutoNAT and DCUtR, and the address checks they share.</summary>
internal static class NatMessages
{
    /// <summary>The spec's bound for DCUtR and AutoNAT messages (4 KiB of data plus framing).</summary>
    public const int MaxMessageSize = 8 * 1024;

    /// <summary>Reads one message; null when the stream ended before one.</summary>
    /// <exception cref="WireFormatException">Too large, cut short, or not a valid message.</exception>
    public static async ValueTask<T?> ReadAsync<T>(P2PStream stream, MessageParser<T> parser, CancellationToken cancellationToken)
        where T : class, IMessage<T>
    {
        byte[]? bytes = await LengthPrefixed.ReadAsync(stream.Input, MaxMessageSize, cancellationToken).ConfigureAwait(false);
        if (bytes is null)
        {
            return null;
        }
        try
        {
            return parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new WireFormatException($"Malformed {typeof(T).Name[2..]} message: {e.Message}", e);
        }
    }

    public static ValueTask WriteAsync(P2PStream stream, IMessage message, CancellationToken cancellationToken) =>
        LengthPrefixed.WriteAsync(stream.Output, message.ToByteArray(), cancellationToken);

    /// <summary>Addresses from the wire, at most <paramref name="max"/>; unreadable ones become null so indices keep
    /// matching the sender's list.</summary>
    public static List<Multiaddr?> Addresses(IEnumerable<ByteString> encoded, int max)
    {
        var result = new List<Multiaddr?>();
        foreach (var bytes in encoded.Take(max))
        {
            try
            {
                result.Add(Multiaddr.FromBytes(bytes.Span));
            }
            catch (WireFormatException)
            {
                result.Add(null);
            }
        }
        return result;
    }

    /// <summary>A plain <c>/ip4|ip6/…/tcp/N</c> address (a trailing <c>/p2p</c> allowed) with a real port.</summary>
    public static bool IsDirectTcp(Multiaddr address, [NotNullWhen(true)] out IPEndPoint? endPoint) =>
        address.WithoutPeerId().TryGetTcpEndPoint(out endPoint) && endPoint.Port != 0
        && !endPoint.Address.Equals(IPAddress.Any) && !endPoint.Address.Equals(IPAddress.IPv6Any);

    /// <summary>
    /// Whether <paramref name="address"/> can be reached from the public Internet: not loopback, unspecified,
    /// private-use (RFC 1918, IPv6 unique-local), shared (RFC 6598 carrier-grade NAT), link-local, multicast, reserved,
    /// benchmarking or documentation ranges (RFC 5737, RFC 3849) — the ranges go- and js-libp2p call private too.
    /// </summary>
    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)
            || address.Equals(IPAddress.Broadcast))
        {
            return false;
        }
        byte[] b = address.GetAddressBytes();
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            return !(b[0] == 0 || b[0] == 10 || b[0] == 127 || b[0] >= 224
                || b[0] == 172 && (b[1] & 0xF0) == 16
                || b[0] == 192 && b[1] == 168
                || b[0] == 169 && b[1] == 254
                || b[0] == 100 && (b[1] & 0xC0) == 64
                || b[0] == 192 && b[1] == 0 && (b[2] == 0 || b[2] == 2)
                || b[0] == 198 && (b[1] & 0xFE) == 18
                || b[0] == 198 && b[1] == 51 && b[2] == 100
                || b[0] == 203 && b[1] == 0 && b[2] == 113);
        }
        return !(address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast || (b[0] & 0xFE) == 0xFC
            || b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8);
    }
}
