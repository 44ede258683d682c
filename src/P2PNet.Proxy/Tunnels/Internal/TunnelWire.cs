using System.Buffers;
using System.IO.Pipelines;
using Google.Protobuf;
using P2PNet.IO;

namespace P2PNet.Proxy.Tunnels.Internal;

/// <summary>
/// The tunnel protocols' ids and their message framing: unsigned-varint-length-prefixed protobufs of at most
/// <see cref="MaxMessageSize"/> bytes (see docs/tunnels.md). Parsing a message is pure; the I/O helpers only read a
/// frame and hand it to the parser.
/// </summary>
internal static class TunnelWire
{
    /// <summary>The control protocol: registration and keepalive, device → server.</summary>
    public const string ControlProtocol = "/p2pnet/tunnel/1.0.0";

    /// <summary>One public connection, server → device.</summary>
    public const string ConnectionProtocol = "/p2pnet/tunnel/conn/1.0.0";

    /// <summary>Peer-to-peer forwarding without a server, forwarder → target.</summary>
    public const string ForwardProtocol = "/p2pnet/forward/1.0.0";

    /// <summary>The largest control message; a registration of 64 services with long names fits in a few KiB.</summary>
    public const int MaxMessageSize = 64 * 1024;

    /// <summary>The largest UDP datagram carried (the largest UDP payload over IPv4).</summary>
    public const int MaxDatagramSize = 65507;

    /// <summary>Parses one message of type <typeparamref name="T"/>.</summary>
    /// <exception cref="WireFormatException">The bytes are not a valid message.</exception>
    public static T Parse<T>(MessageParser<T> parser, ReadOnlySequence<byte> bytes)
        where T : IMessage<T>
    {
        try
        {
            return parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new WireFormatException($"Malformed {typeof(T).Name}: {e.Message}", e);
        }
    }

    /// <summary>Reads one message; <see langword="null"/> when the stream ends cleanly first.</summary>
    /// <exception cref="WireFormatException">The frame or message is malformed or too large.</exception>
    public static async ValueTask<T?> ReadAsync<T>(PipeReader reader, MessageParser<T> parser, CancellationToken cancellationToken)
        where T : class, IMessage<T>
    {
        byte[]? frame = await LengthPrefixed.ReadAsync(reader, MaxMessageSize, cancellationToken).ConfigureAwait(false);
        return frame is null ? null : Parse(parser, new ReadOnlySequence<byte>(frame));
    }

    /// <summary>Writes one message and flushes.</summary>
    public static async ValueTask WriteAsync(PipeWriter writer, IMessage message, CancellationToken cancellationToken)
    {
        int size = message.CalculateSize();
        Multiformats.Varint.Write(writer, (ulong)size);
        message.WriteTo(writer);
        await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    public static TunnelServiceKind ToPublic(Protos.ServiceKind kind) => kind switch
    {
        Protos.ServiceKind.Tcp => TunnelServiceKind.Tcp,
        Protos.ServiceKind.Udp => TunnelServiceKind.Udp,
        Protos.ServiceKind.Http => TunnelServiceKind.Http,
        Protos.ServiceKind.Https => TunnelServiceKind.Https,
        _ => throw new WireFormatException($"Unknown service kind {(int)kind}."),
    };

    public static Protos.ServiceKind ToWire(TunnelServiceKind kind) => (Protos.ServiceKind)(int)kind;
}
