namespace P2PNet.Vpn.NetStack.Internal;

/// <summary>A wake-up for waiters that check a condition under the stack's lock: take <see cref="Task"/> under the lock,
/// release it, await. <see cref="Set"/> (also under the lock) wakes every current waiter, so no wake-up is lost.</summary>
internal sealed class AsyncSignal
{
    private TaskCompletionSource _current = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Task => _current.Task;

    public void Set()
    {
        if (_current.Task.IsCompleted)
        {
            return;
        }
        var old = _current;
        _current = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        old.TrySetResult();
    }
}
