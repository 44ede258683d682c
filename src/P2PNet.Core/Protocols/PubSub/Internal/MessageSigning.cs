using System.Text;
using Google.Protobuf;
using P2PNet.Crypto;
using P2PNet.Peers;
using P2PNet.Protocols.PubSub.Protos;

namespace P2PNet.Protocols.PubSub.Internal;

/// <summary>
/// Message signatures (pubsub/README.md "Message Signing"): the author signs <c>"libp2p-pubsub:"</c> followed by the
/// protobuf of the message without its <c>signature</c> and <c>key</c> fields; <c>key</c> is sent only when the
/// public key cannot be taken from the <c>from</c> peer id.
/// </summary>
internal static class MessageSigning
{
    private static readonly byte[] Prefix = Encoding.ASCII.GetBytes("libp2p-pubsub:");

    public static void Sign(PbMessage message, PrivateKey key, PeerId author)
    {
        message.Signature = ByteString.CopyFrom(key.Sign(SignedBytes(message)));
        if (author.TryGetPublicKey() is null)
        {
            message.Key = ByteString.CopyFrom(key.PublicKey.ToProtobuf());
        }
    }

    /// <summary>Checks a StrictSign message: an author, an 8-byte seqno, and a valid signature by the author's key.</summary>
    public static bool Verify(PbMessage message, out PeerId? author)
    {
        author = null;
        if (!message.HasFrom || !message.HasSignature || !message.HasSeqno || message.Seqno.Length != 8)
        {
            return false;
        }
        try
        {
            author = PeerId.FromBytes(message.From.Span);
            PublicKey? key = message.HasKey ? PublicKey.FromProtobuf(message.Key.Span) : author.TryGetPublicKey();
            if (key is null || !author.Matches(key))
            {
                return false;
            }
            return key.Verify(SignedBytes(message), message.Signature.Span);
        }
        catch (WireFormatException)
        {
            return false;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static byte[] SignedBytes(PbMessage message)
    {
        var unsigned = message.Clone();
        unsigned.ClearSignature();
        unsigned.ClearKey();
        int size = unsigned.CalculateSize();
        byte[] bytes = new byte[Prefix.Length + size];
        Prefix.CopyTo(bytes, 0);
        unsigned.WriteTo(bytes.AsSpan(Prefix.Length));
        return bytes;
    }
}
