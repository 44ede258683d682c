using P2PNet.Host.Internal;
using Microsoft.Extensions.Logging;

namespace P2PNet.Host;

/// <summary>
/// Delivers <see cref="HostEvent"/>s to subscribers. Handlers run synchronously on the thread that raised the event,
/// in subscription order; they must not block. A handler that throws is logged and does not affect others.
/// </summary>
/// <remarks>Thread-safe: subscribe, unsubscribe and publish from any thread.</remarks>
public sealed class EventBus
{
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private ImmutableHandlers _handlers = new([]);

    internal EventBus(ILogger logger) => _logger = logger;

    /// <summary>Calls <paramref name="handler"/> for every event of type <typeparamref name="TEvent"/> until the result is disposed.</summary>
    public IDisposable Subscribe<TEvent>(Action<TEvent> handler) where TEvent : HostEvent
    {
        ArgumentNullException.ThrowIfNull(handler);
        var entry = new Entry(typeof(TEvent), e => handler((TEvent)e));
        lock (_lock)
        {
            _handlers = new ImmutableHandlers([.. _handlers.Items, entry]);
        }
        return new Subscription(this, entry);
    }

    internal void Publish(HostEvent hostEvent)
    {
        foreach (var entry in _handlers.Items)
        {
            if (entry.Type.IsInstanceOfType(hostEvent))
            {
                try
                {
                    entry.Handler(hostEvent);
                }
#pragma warning disable CA1031 // a subscriber's bug must not break the host
                catch (Exception e)
#pragma warning restore CA1031
                {
                    HostLog.EventHandlerFailed(_logger, e, hostEvent.GetType().Name);
                }
            }
        }
    }

    private void Remove(Entry entry)
    {
        lock (_lock)
        {
            _handlers = new ImmutableHandlers(_handlers.Items.Where(e => e != entry).ToArray());
        }
    }

    private sealed record Entry(Type Type, Action<HostEvent> Handler);

    private sealed record ImmutableHandlers(Entry[] Items);

    private sealed class Subscription(EventBus bus, Entry entry) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                bus.Remove(entry);
            }
        }
    }
}
