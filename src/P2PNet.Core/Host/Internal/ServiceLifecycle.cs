namespace P2PNet.Host.Internal;

/// <summary>
/// Created → started → disposed, for the services applications attach to a host (relay, AutoNAT, hole punching,
/// AutoRelay): <see cref="TryStart"/> is true for the one call that starts, <see cref="TryDispose"/> for the one call
/// that disposes. A field of the service (a mutable struct: never copy it, never make the field readonly).
/// </summary>
internal struct ServiceLifecycle
{
    private const int Created = 0;
    private const int Started = 1;
    private const int Disposed = 2;

    private int _state;

    /// <summary>Whether the service was disposed.</summary>
    public readonly bool IsDisposed => Volatile.Read(in _state) == Disposed;

    /// <summary>True for the call that moves the service from created to started; false when it already runs.</summary>
    /// <exception cref="ObjectDisposedException">The service was disposed.</exception>
    public bool TryStart(object owner)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, owner);
        return Interlocked.CompareExchange(ref _state, Started, Created) == Created;
    }

    /// <summary>True for the one call that disposes; <paramref name="wasStarted"/> says whether it had started.</summary>
    public bool TryDispose(out bool wasStarted)
    {
        int previous = Interlocked.Exchange(ref _state, Disposed);
        wasStarted = previous == Started;
        return previous != Disposed;
    }
}
