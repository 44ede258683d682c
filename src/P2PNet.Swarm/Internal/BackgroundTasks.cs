namespace P2PNet.Swarm.Internal;

/// <summary>Tasks an object started and must await before it is disposed.</summary>
internal sealed class BackgroundTasks
{
    private readonly HashSet<Task> _tasks = [];
    private readonly Lock _lock = new();

    public void Track(Task task)
    {
        lock (_lock)
        {
            _tasks.Add(task);
        }
        _ = task.ContinueWith(t =>
        {
            lock (_lock)
            {
                _tasks.Remove(t);
            }
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public async Task WhenAllAsync(TimeSpan timeout)
    {
        Task[] tasks;
        lock (_lock)
        {
            tasks = [.. _tasks];
        }
        try
        {
            await Task.WhenAll(tasks).WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            // Shutting down: what did not finish in time is abandoned (each task observes the cancellation token).
        }
    }
}
