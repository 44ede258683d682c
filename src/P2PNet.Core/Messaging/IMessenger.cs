using Google.Protobuf;
using P2PNet.Peers;

namespace P2PNet.Messaging;

/// <summary>
/// Sends and receives typed protobuf messages to and from peers (the seed design's sendLibP2PMessage /
/// receiveLibP2PMessage), over the protocol <see cref="Messenger.ProtocolId"/>.
/// </summary>
public interface IMessenger
{
    /// <summary>Sends <paramref name="message"/> to <paramref name="peer"/>, connecting first if needed.
    /// Completes when the message has been written to the peer's stream.</summary>
    ValueTask SendAsync<TMessage>(PeerId peer, TMessage message, CancellationToken cancellationToken = default)
        where TMessage : IMessage<TMessage>;

    /// <summary>Calls <paramref name="handler"/> for each received message of type <typeparamref name="TMessage"/>
    /// until the result is disposed. Messages of a type nobody subscribed to are dropped and logged.</summary>
    IDisposable Subscribe<TMessage>(Func<PeerId, TMessage, CancellationToken, ValueTask> handler)
        where TMessage : IMessage<TMessage>, new();

    /// <summary>Waits for the next message of type <typeparamref name="TMessage"/> from any peer.</summary>
    ValueTask<(PeerId From, TMessage Message)> ReceiveAsync<TMessage>(CancellationToken cancellationToken = default)
        where TMessage : IMessage<TMessage>, new();
}
