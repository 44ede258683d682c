using Google.Protobuf;
using P2PNet.Vpn.Protos;

namespace P2PNet.Vpn.Internal;

/// <summary>Parses one /p2pnet/vpn/control/1.0.0 message (the bytes inside its varint length prefix, whose size limit
/// <see cref="VpnOptions.MaxControlMessageSize"/> <c>LengthPrefixed</c> enforces). Pure: no I/O.</summary>
internal static class ControlCodec
{
    /// <summary>Decodes a control message that carries a body.</summary>
    /// <exception cref="WireFormatException">Not a valid <c>ControlMessage</c>, or one without a body: the only error.</exception>
    public static ControlMessage Parse(ReadOnlySpan<byte> bytes)
    {
        ControlMessage message;
        try
        {
            message = ControlMessage.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new WireFormatException("Malformed VPN control message.", e);
        }
        if (message.BodyCase == ControlMessage.BodyOneofCase.None)
        {
            throw new WireFormatException("The VPN control message has no body (or one this version does not know).");
        }
        return message;
    }
}
