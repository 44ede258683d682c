namespace P2PNet.Host.Internal;

/// <summary>Owns background tasks so that their owner can wait for all of them when it closes (no fire-and-forget).
/// The one task tracker of P2PNet: the host, its connections and services, the swarm and the VPN packages use it
/// (they see it through InternalsVisibleTo).</summary>
internal sealed class TaskTracker
{
    private readonly HashSet<Task> _tasks = [];
    private readonly Lock _lock = new();

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _tasks.Count;
            }
        }
    }

    public void Track(Task task)
    {
        lock (_lock)
        {
            _tasks.Add(task);
        }
        _ = task.ContinueWith(
            static (t, state) =>
            {
                var tracker = (TaskTracker)state!;
                lock (tracker._lock)
                {
                    tracker._tasks.Remove(t);
                }
            },
            this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>Completes when every task tracked now has finished (faulting if one did); the caller bounds the wait.</summary>
    public Task WhenAll()
    {
        lock (_lock)
        {
            return _tasks.Count == 0 ? Task.CompletedTask : Task.WhenAll([.. _tasks]);
        }
    }

    /// <summary>Waits for every tracked task, at most <paramref name="timeout"/>. Faults are observed, not rethrown.</summary>
    public async Task<bool> WhenAllAsync(TimeSpan timeout)
    {
        Task[] tasks;
        lock (_lock)
        {
            tasks = [.. _tasks];
        }
        if (tasks.Length == 0)
        {
            return true;
        }
        var all = Task.WhenAll(tasks);
        var finished = await Task.WhenAny(all, Task.Delay(timeout)).ConfigureAwait(false);
        if (finished == all && all.IsFaulted)
        {
            _ = all.Exception; // observed
        }
        return finished == all;
    }
}
