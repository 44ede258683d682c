using Google.Protobuf;
using P2PNet.Host;
using P2PNet.IO;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Protocols.Relay.Protos;

namespace P2PNet.Protocols.Relay.Internal;

/// <summary>Hop and stop messages: uvarint-length-prefixed protobufs (libp2p/specs relay/circuit-v2.md, "Wire protocol").</summary>
internal static class RelayMessages
{
    /// <summary>Reads one hop message; null when the stream ended before one.</summary>
    /// <exception cref="WireFormatException">Too large, cut short, or not a valid hop message.</exception>
    public static async ValueTask<PbHopMessage?> ReadHopAsync(P2PStream stream, int maxSize, CancellationToken cancellationToken)
    {
        byte[]? bytes = await LengthPrefixed.ReadAsync(stream.Input, maxSize, cancellationToken).ConfigureAwait(false);
        return bytes is null ? null : ParseHop(bytes);
    }

    /// <exception cref="WireFormatException">Not a valid hop message.</exception>
    public static PbHopMessage ParseHop(byte[] bytes) => Parse(PbHopMessage.Parser, bytes, "hop");

    /// <summary>Reads one stop message; null when the stream ended before one.</summary>
    /// <exception cref="WireFormatException">Too large, cut short, or not a valid stop message.</exception>
    public static async ValueTask<PbStopMessage?> ReadStopAsync(P2PStream stream, int maxSize, CancellationToken cancellationToken)
    {
        byte[]? bytes = await LengthPrefixed.ReadAsync(stream.Input, maxSize, cancellationToken).ConfigureAwait(false);
        return bytes is null ? null : Parse(PbStopMessage.Parser, bytes, "stop");
    }

    public static ValueTask WriteAsync(P2PStream stream, IMessage message, CancellationToken cancellationToken) =>
        LengthPrefixed.WriteAsync(stream.Output, message.ToByteArray(), cancellationToken);

    public static PbHopMessage HopStatus(PbStatus status) => new() { Type = PbHopMessage.Types.Type.Status, Status = status };

    public static PbStopMessage StopStatus(PbStatus status) => new() { Type = PbStopMessage.Types.Type.Status, Status = status };

    public static PbLimit? Limit(TimeSpan duration, long data)
    {
        if (duration <= TimeSpan.Zero && data <= 0)
        {
            return null;
        }
        var limit = new PbLimit();
        if (duration > TimeSpan.Zero)
        {
            limit.Duration = (uint)Math.Min(uint.MaxValue, Math.Ceiling(duration.TotalSeconds));
        }
        if (data > 0)
        {
            limit.Data = (ulong)data;
        }
        return limit;
    }

    /// <summary>The peer id of a <c>peer</c> field.</summary>
    /// <exception cref="WireFormatException">Absent or not a peer id.</exception>
    public static PeerId PeerOf(PbRelayPeer? peer, string what)
    {
        if (peer is null || !peer.HasId)
        {
            throw new WireFormatException($"The {what} message names no peer.");
        }
        return PeerId.FromBytes(peer.Id.Span);
    }

    /// <summary>The addresses of a <c>peer</c> or reservation; malformed ones are skipped (they are hints).</summary>
    public static List<Multiaddr> Addresses(IEnumerable<ByteString> encoded)
    {
        var result = new List<Multiaddr>();
        foreach (var bytes in encoded.Take(64))
        {
            try
            {
                result.Add(Multiaddr.FromBytes(bytes.Span));
            }
            catch (WireFormatException)
            {
                // an address we cannot parse is one we cannot use; the others still are
            }
        }
        return result;
    }

    private static T Parse<T>(MessageParser<T> parser, byte[] bytes, string what)
        where T : IMessage<T>
    {
        try
        {
            return parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new WireFormatException($"Malformed {what} message: {e.Message}", e);
        }
    }
}
