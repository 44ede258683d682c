using System.Collections.Concurrent;

namespace P2PNet.Proxy.Tunnels.Internal;

/// <summary>
/// Ends connections that carried nothing either way for the idle timeout. Pumps stamp <see cref="Activity.Touch"/>; one
/// timer per owner (not per connection, so an idle connection costs no timer) walks the open ones a few times per timeout.
/// </summary>
internal sealed class IdleSweeper : IDisposable
{
    private readonly ConcurrentDictionary<Activity, byte> _open = new();
    private readonly TimeProvider _time;
    private readonly long _timeoutTicks;
    private readonly ITimer? _timer;

    public IdleSweeper(TimeSpan timeout, TimeProvider time)
    {
        _time = time;
        _timeoutTicks = (long)(timeout.TotalSeconds * time.TimestampFrequency);
        if (timeout > TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            // A quarter of the timeout: a connection ends between 1 and 1.25 timeouts after its last byte.
            TimeSpan period = timeout / 4;
            _timer = time.CreateTimer(_ => Sweep(), null, period, period);
        }
    }

    public int Count => _open.Count;

    /// <summary>Watches a connection until the returned activity is disposed; <paramref name="onIdle"/> ends it.</summary>
    public Activity Watch(CancellationTokenSource onIdle)
    {
        var activity = new Activity(this, onIdle);
        _open.TryAdd(activity, 0);
        return activity;
    }

    public void Sweep()
    {
        long now = _time.GetTimestamp();
        foreach (var activity in _open.Keys)
        {
            if (now - Volatile.Read(ref activity.LastTimestamp) >= _timeoutTicks)
            {
                activity.Expire();
            }
        }
    }

    public void Dispose() => _timer?.Dispose();

    internal sealed class Activity : IDisposable
    {
        private readonly IdleSweeper _owner;
        private readonly CancellationTokenSource _onIdle;
        internal long LastTimestamp;

        public Activity(IdleSweeper owner, CancellationTokenSource onIdle)
        {
            _owner = owner;
            _onIdle = onIdle;
            LastTimestamp = owner._time.GetTimestamp();
        }

        public bool Expired { get; private set; }

        public void Touch() => Volatile.Write(ref LastTimestamp, _owner._time.GetTimestamp());

        internal void Expire()
        {
            Expired = true;
            _owner._open.TryRemove(this, out _);
            try
            {
                _onIdle.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The connection ended on its own meanwhile.
            }
        }

        public void Dispose() => _owner._open.TryRemove(this, out _);
    }
}
