using System.IO.Pipelines;

namespace P2PNet.Muxing.Yamux;

/// <summary>
/// The reader scheduler of a stream's receive pipe on a session that delivers inline
/// (<see cref="Transports.Tcp.TcpTransportOptions.LowLatency"/>): inside <see cref="Enter"/>/<see cref="Exit"/> (the read
/// loop handling one frame) a woken reader is held back and resumed by <see cref="Exit"/>, on the same thread but after
/// the frame's handling has released its locks; anywhere else (a reset from another thread) it goes to the thread
/// pool, so a reader never runs inside somebody else's lock.
/// </summary>
internal sealed class DeferredInlineScheduler : PipeScheduler
{
    /// <summary>The one instance; the state is per thread.</summary>
    public static readonly DeferredInlineScheduler Instance = new();

    [ThreadStatic]
    private static List<(Action<object?> Action, object? State)>? t_pending;

    [ThreadStatic]
    private static int t_depth;

    private DeferredInlineScheduler()
    {
    }

    /// <inheritdoc/>
    public override void Schedule(Action<object?> action, object? state)
    {
        if (t_depth > 0)
        {
            (t_pending ??= new List<(Action<object?>, object?)>(4)).Add((action, state));
            return;
        }
        System.Threading.ThreadPool.UnsafeQueueUserWorkItem(action, state, preferLocal: false);
    }

    /// <summary>Starts holding back readers woken on this thread.</summary>
    public static void Enter() => t_depth++;

    /// <summary>Stops holding back (at the outermost exit) and resumes the readers held back, in the order woken.</summary>
    public static void Exit()
    {
        if (--t_depth > 0 || t_pending is not { Count: > 0 } pending)
        {
            return;
        }
        // A resumed reader may wake more (it writes to another stream whose reader is local): they run at once, as
        // Schedule is outside the scope now, or on the pool; the list is this thread's and emptied first. One reader
        // (a lone packet's) is the common case and needs no copy.
        if (pending.Count == 1)
        {
            var (action, state) = pending[0];
            pending.Clear();
            action(state);
            return;
        }
        var readers = pending.ToArray();
        pending.Clear();
        foreach (var (each, eachState) in readers)
        {
            each(eachState);
        }
    }
}
