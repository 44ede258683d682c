using P2PNet.Peers;

namespace P2PNet.Protocols.PubSub;

/// <summary>A message published on a topic, as delivered to subscribers and validators.</summary>
/// <param name="Topic">The topic it was published on.</param>
/// <param name="Data">The payload.</param>
/// <param name="From">The author (signed under <see cref="SignaturePolicy.StrictSign"/>), or <see langword="null"/> when unsigned.</param>
/// <param name="SequenceNumber">The author's 8-byte sequence number, or empty when unsigned.</param>
/// <param name="ReceivedFrom">The peer that forwarded it to us; our own id for our own messages.</param>
public sealed record PubSubMessage(string Topic, ReadOnlyMemory<byte> Data, PeerId? From, ReadOnlyMemory<byte> SequenceNumber, PeerId ReceivedFrom)
{
    /// <summary>The message id (by <see cref="GossipSubOptions.MessageIdFunction"/>); set by the router before delivery.</summary>
    public ReadOnlyMemory<byte> Id { get; internal set; }

    /// <summary>Reads a typed protobuf message published with <see cref="GossipSubRouter.PublishAsync{TMessage}"/> (the messenger's envelope).</summary>
    /// <exception cref="WireFormatException">The data is not an envelope of <typeparamref name="TMessage"/>.</exception>
    public TMessage GetPayload<TMessage>() where TMessage : Google.Protobuf.IMessage<TMessage>, new()
    {
        var sample = new TMessage();
        try
        {
            var envelope = Messaging.Protos.PbEnvelope.Parser.ParseFrom(Data.Span);
            if (envelope.Type != sample.Descriptor.FullName)
            {
                throw new WireFormatException($"The message on {Topic} holds a {envelope.Type}, not a {sample.Descriptor.FullName}.");
            }
            Google.Protobuf.MessageExtensions.MergeFrom(sample, envelope.Payload);
            return sample;
        }
        catch (Google.Protobuf.InvalidProtocolBufferException e)
        {
            throw new WireFormatException($"The message on {Topic} is not a valid {sample.Descriptor.FullName}: {e.Message}", e);
        }
    }
}

/// <summary>A topic validator's verdict (pubsub/README.md "Message Validation").</summary>
public enum ValidationResult
{
    /// <summary>Deliver and forward.</summary>
    Accept,

    /// <summary>Drop and penalise the peer that forwarded it (P4).</summary>
    Reject,

    /// <summary>Drop without penalty.</summary>
    Ignore,
}

/// <summary>Decides whether a message on a topic is delivered and forwarded. Runs on the receiving peer's read loop: keep it fast.</summary>
public delegate ValidationResult TopicValidator(PubSubMessage message);
