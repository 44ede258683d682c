using FsCheck;
using FsCheck.Xunit;
using Google.Protobuf;
using P2PNet.Crypto;
using P2PNet.Peers;
using P2PNet.Protocols.PubSub.Internal;
using P2PNet.Protocols.PubSub.Protos;

namespace P2PNet.Core.Tests.PubSub;

/// <summary>Properties of pubsub message signatures (pubsub/README.md "Message Signing") and the IWANT cache bound.</summary>
public sealed class MessageSigningPropertyTests
{
    private static readonly PrivateKey Key = PrivateKey.GenerateEd25519();
    private static readonly PeerId Author = Key.PublicKey.ToPeerId();

    private static PbMessage Signed(byte[] data, string topic, ulong seqno)
    {
        byte[] seq = new byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(seq, seqno);
        var message = new PbMessage { From = ByteString.CopyFrom(Author.Bytes), Data = ByteString.CopyFrom(data), Seqno = ByteString.CopyFrom(seq), Topic = topic };
        MessageSigning.Sign(message, Key, Author);
        return message;
    }

    [Property]
    public bool SignedMessage_VerifiesAfterAWireRoundTrip(byte[] data, NonEmptyString topic, ulong seqno)
    {
        var message = Signed(data, topic.Get, seqno);
        var parsed = PbMessage.Parser.ParseFrom(message.ToByteArray());
        return MessageSigning.Verify(parsed, out var author) && author == Author && !parsed.HasKey;
    }

    [Property]
    public bool AnyChangedDataByte_FailsVerification(NonEmptyArray<byte> data, PositiveInt at, byte flip)
    {
        var message = Signed(data.Get, "jobs", 1);
        byte[] changed = data.Get.ToArray();
        changed[at.Get % changed.Length] ^= (byte)(flip | 1);
        message.Data = ByteString.CopyFrom(changed);
        return !MessageSigning.Verify(message, out _);
    }

    [Property]
    public bool ArbitrarySignatureOrSeqno_FailsVerification(byte[] signature, byte[] seqno)
    {
        var message = Signed([1, 2, 3], "jobs", 7);
        message.Signature = ByteString.CopyFrom(signature);
        if (seqno.Length != 8)
        {
            message.Seqno = ByteString.CopyFrom(seqno);
        }
        return !MessageSigning.Verify(message, out _);
    }

    [Property]
    public bool MessageCache_ServesOnePeerAtMostTheRetransmissionLimit(PositiveInt requests, PositiveInt limit)
    {
        var cache = new MessageCache(5, 3);
        var message = Signed([9], "jobs", 3);
        cache.Put("id", [1], message);
        int served = Enumerable.Range(0, requests.Get % 50).Count(_ => cache.GetForPeer("id", Author, limit.Get % 10) is not null);
        return served == Math.Min(requests.Get % 50, limit.Get % 10);
    }
}
