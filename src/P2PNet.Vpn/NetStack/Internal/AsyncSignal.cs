namespace P2PNet.Vpn.NetStack.Internal;

/// <summary>A wake-up for waiters that check a condition under the stack's lock: take <see cref="Task"/> under the lock,
/// release it, await. <see cref="Set"/> (also under the lock) wakes every current waiter, so no wake-up is lost. It
/// allocates only when it wakes someone: setting it with nobody waiting (every arriving segment) costs nothing.</summary>
internal sealed class AsyncSignal
{
    private TaskCompletionSource _current = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _waited;

    public Task Task
    {
        get
        {
            _waited = true;
            return _current.Task;
        }
    }

    public void Set()
    {
        if (!_waited)
        {
            return;
        }
        _waited = false;
        var old = _current;
        _current = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        old.TrySetResult();
    }
}
