using System.Threading.Channels;

namespace P2PNet.Protocols.PubSub;

/// <summary>
/// A subscription to one topic: enumerate it for the messages that arrive; dispose it to leave the topic.
/// A subscriber that does not keep up loses the oldest buffered messages (<see cref="GossipSubOptions.SubscriptionBufferSize"/>).
/// </summary>
/// <remarks>Enumerate from one consumer at a time; disposal is thread-safe and ends the enumeration.</remarks>
public sealed class PubSubSubscription : IAsyncEnumerable<PubSubMessage>, IAsyncDisposable
{
    private readonly GossipSubRouter _router;
    private readonly Channel<PubSubMessage> _messages;
    private int _disposed;

    internal PubSubSubscription(GossipSubRouter router, string topic, int capacity)
    {
        _router = router;
        Topic = topic;
        _messages = Channel.CreateBounded<PubSubMessage>(new BoundedChannelOptions(capacity)
        {
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.DropOldest,
        });
    }

    /// <summary>The topic.</summary>
    public string Topic { get; }

    /// <summary>Messages delivered into this subscription's buffer since it began.</summary>
    public long Delivered => Interlocked.Read(ref _delivered);

    private long _delivered;

    /// <inheritdoc />
    public IAsyncEnumerator<PubSubMessage> GetAsyncEnumerator(CancellationToken cancellationToken = default) =>
        _messages.Reader.ReadAllAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);

    /// <summary>Leaves the topic (if this was its last subscription) and ends the enumeration.</summary>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _router.Unsubscribe(this);
            Complete();
        }
        return ValueTask.CompletedTask;
    }

    internal void Deliver(PubSubMessage message)
    {
        if (_messages.Writer.TryWrite(message))
        {
            Interlocked.Increment(ref _delivered);
        }
    }

    internal void Complete() => _messages.Writer.TryComplete();
}
