using System.Diagnostics.CodeAnalysis;

namespace P2PNet.Muxing.Yamux;

/// <summary>
/// Inbound streams waiting for the application to accept them. Written by the read loop; read by any number of
/// concurrent acceptors. Small on purpose: every idle connection keeps one with an acceptor waiting on it, and an
/// unbounded <see cref="System.Threading.Channels.Channel{T}"/> would bring a 32-slot segment and its reader and waiter
/// objects. Its length is bounded by the session's accept backlog
/// (<see cref="YamuxOptions.MaxUnacknowledgedInboundStreams"/>) plus streams reset while waiting.
/// </summary>
/// <remarks>All waiting acceptors share one signal; after a write they race for the stream and the losers wait again.
/// Concurrent acceptors are rare, and this keeps a cancelled wait from leaving anything behind.</remarks>
internal sealed class YamuxAcceptQueue
{
    private static readonly Task<bool> s_true = Task.FromResult(true);
    private static readonly Task<bool> s_false = Task.FromResult(false);

    private readonly Lock _lock = new();
    private Queue<YamuxStream>? _items; // guarded by _lock; created by the first inbound stream
    private TaskCompletionSource<bool>? _signal; // guarded by _lock; exists while someone waits on an empty queue
    private bool _completed; // guarded by _lock

    /// <summary>Adds an inbound stream; <see langword="false"/> once the queue is completed.</summary>
    public bool TryWrite(YamuxStream stream)
    {
        TaskCompletionSource<bool>? signal;
        lock (_lock)
        {
            if (_completed)
            {
                return false;
            }

            (_items ??= new Queue<YamuxStream>()).Enqueue(stream);
            signal = _signal;
            _signal = null;
        }

        signal?.TrySetResult(true);
        return true;
    }

    /// <summary>Takes the oldest stream, if any.</summary>
    public bool TryRead([NotNullWhen(true)] out YamuxStream? stream)
    {
        lock (_lock)
        {
            if (_items is not null && _items.TryDequeue(out stream))
            {
                return true;
            }
        }

        stream = null;
        return false;
    }

    /// <summary>Completes with <see langword="true"/> when a stream may be read, <see langword="false"/> once the queue is
    /// completed and empty.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> stopped the wait.</exception>
    public Task<bool> WaitToReadAsync(CancellationToken cancellationToken)
    {
        TaskCompletionSource<bool> signal;
        lock (_lock)
        {
            if (_items is { Count: > 0 })
            {
                return s_true;
            }

            if (_completed)
            {
                return s_false;
            }

            signal = _signal ??= new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        return signal.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Refuses further streams and wakes all acceptors; streams already queued can still be read.</summary>
    public void TryComplete()
    {
        TaskCompletionSource<bool>? signal;
        lock (_lock)
        {
            _completed = true;
            signal = _signal;
            _signal = null;
        }

        signal?.TrySetResult(false);
    }
}
