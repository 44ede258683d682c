using System.Threading.Tasks.Sources;

namespace P2PNet.Muxing.Yamux;

/// <summary>
/// An unbounded queue with any number of writers and one reader that waits without allocating: the session's write
/// queue. Much smaller than an unbounded <see cref="System.Threading.Channels.Channel{T}"/> (whose first segment
/// alone holds 32 items), which matters because every idle connection keeps one: its array is created at the first
/// write and grows only as far as the longest backlog.
/// </summary>
/// <remarks>Thread safety: <see cref="TryWrite"/> and <see cref="TryComplete"/> from any thread; <see cref="TryRead"/>
/// and <see cref="WaitToReadAsync"/> from one reader at a time, which awaits each wait before starting the next.</remarks>
internal sealed class SingleReaderQueue<T> : IValueTaskSource<bool>
{
    private readonly Lock _lock = new();
    private Queue<T>? _items;
    private ManualResetValueTaskSourceCore<bool> _waiter;
    private bool _readerWaiting; // guarded by _lock
    private bool _completed; // guarded by _lock

    /// <summary>Creates an empty queue.</summary>
    /// <param name="runReaderInline">Whether a waiting reader resumes on the writer's thread, inside
    /// <see cref="TryWrite"/> (until the reader's next await), instead of on the thread pool. Only for a reader that
    /// never blocks, and writers that hold no lock while they write.</param>
    public SingleReaderQueue(bool runReaderInline = false) =>
        _waiter = new ManualResetValueTaskSourceCore<bool> { RunContinuationsAsynchronously = !runReaderInline };

    /// <summary>Adds <paramref name="item"/>; <see langword="false"/> once the queue is completed.</summary>
    public bool TryWrite(T item)
    {
        lock (_lock)
        {
            if (_completed)
            {
                return false;
            }

            (_items ??= new Queue<T>()).Enqueue(item);
            if (!_readerWaiting)
            {
                return true;
            }

            _readerWaiting = false;
        }

        _waiter.SetResult(true);
        return true;
    }

    /// <summary>Takes the oldest item, if any.</summary>
    public bool TryRead(out T item)
    {
        lock (_lock)
        {
            if (_items is not null && _items.TryDequeue(out item!))
            {
                return true;
            }
        }

        item = default!;
        return false;
    }

    /// <summary>Waits until an item can be read (<see langword="true"/>) or the queue is completed and empty
    /// (<see langword="false"/>).</summary>
    public ValueTask<bool> WaitToReadAsync()
    {
        lock (_lock)
        {
            if (_items is { Count: > 0 })
            {
                return new ValueTask<bool>(true);
            }

            if (_completed)
            {
                return new ValueTask<bool>(false);
            }

            // No writer touches the waiter until _readerWaiting is set, and the previous wait was awaited to its end.
            _waiter.Reset();
            _readerWaiting = true;
            return new ValueTask<bool>(this, _waiter.Version);
        }
    }

    /// <summary>Refuses further writes; items already queued can still be read.</summary>
    public void TryComplete()
    {
        lock (_lock)
        {
            if (_completed)
            {
                return;
            }

            _completed = true;
            if (!_readerWaiting)
            {
                return;
            }

            _readerWaiting = false;
        }

        _waiter.SetResult(false);
    }

    bool IValueTaskSource<bool>.GetResult(short token) => _waiter.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _waiter.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _waiter.OnCompleted(continuation, state, token, flags);
}
