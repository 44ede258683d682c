using Google.Protobuf;
using P2PNet.Crypto.Protos;

namespace P2PNet.Crypto;

/// <summary>Reads and writes the libp2p <c>PublicKey</c>/<c>PrivateKey</c> protobuf envelopes.</summary>
internal static class KeyEnvelope
{
    /// <summary>Bound on key data accepted from the wire (an 8192-bit RSA private key is about 4.7 KB).</summary>
    public const int MaxKeyDataLength = 8 * 1024;

    public static byte[] Encode(KeyType type, ReadOnlySpan<byte> data) =>
        new PbPublicKey { Type = (PbKeyType)type, Data = ByteString.CopyFrom(data) }.ToByteArray();

    public static (KeyType Type, byte[] Data) Decode(ReadOnlySpan<byte> encoded, string what)
    {
        if (encoded.Length > MaxKeyDataLength + 16)
        {
            throw new WireFormatException($"Encoded {what} is {encoded.Length} bytes, more than the {MaxKeyDataLength} allowed.");
        }
        PbPublicKey message;
        try
        {
            // PublicKey and PrivateKey share one layout, so one parser serves both.
            message = PbPublicKey.Parser.ParseFrom(encoded);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new WireFormatException($"Encoded {what} is not a valid protobuf message: {e.Message}", e);
        }
        if (!message.HasType || !message.HasData)
        {
            throw new WireFormatException($"Encoded {what} lacks its {(message.HasType ? "Data" : "Type")} field.");
        }
        if (!Enum.IsDefined((KeyType)message.Type))
        {
            throw new WireFormatException($"Encoded {what} has unknown key type {(int)message.Type}.");
        }
        return ((KeyType)message.Type, message.Data.ToByteArray());
    }
}
