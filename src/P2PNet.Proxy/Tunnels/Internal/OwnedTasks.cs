namespace P2PNet.Proxy.Tunnels.Internal;

/// <summary>
/// The background tasks one tunnel object owns (accept loops, connection pumps), so that it awaits all of them when it
/// closes (no fire-and-forget). Finished tasks leave the set at once, so a long-lived server does not accumulate them.
/// </summary>
/// <remarks>The same job as Core's internal task tracker, which this assembly cannot see.</remarks>
internal sealed class OwnedTasks
{
    private readonly HashSet<Task> _tasks = [];
    private readonly Lock _lock = new();

    public void Add(Task task)
    {
        lock (_lock)
        {
            _tasks.Add(task);
        }
        _ = task.ContinueWith(static (t, state) =>
        {
            var owner = (OwnedTasks)state!;
            lock (owner._lock)
            {
                owner._tasks.Remove(t);
            }
        }, this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>Waits for every task owned now, at most <paramref name="timeout"/>; faults are observed, not rethrown.</summary>
    public async Task WaitAsync(TimeSpan timeout)
    {
        Task[] tasks;
        lock (_lock)
        {
            tasks = [.. _tasks];
        }
        if (tasks.Length == 0)
        {
            return;
        }
        var all = Task.WhenAll(tasks);
        await Task.WhenAny(all, Task.Delay(timeout)).ConfigureAwait(false);
        _ = all.Exception;
    }
}
