namespace P2PNet.Testing;

/// <summary>
/// A clock that moves only when the test calls <see cref="Advance"/>; timers (one-shot and periodic) fire then, in due
/// order, each with the clock at its due time.
/// </summary>
/// <param name="start">The wall-clock time at tick 0 (<see cref="GetUtcNow"/>); default 2026-01-01 UTC.</param>
public sealed class ManualTimeProvider(DateTimeOffset? start = null) : TimeProvider
{
    private readonly DateTimeOffset _start = start ?? new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly Lock _lock = new();
    private readonly List<ManualTimer> _timers = [];
    private long _ticks;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp()
    {
        lock (_lock)
        {
            return _ticks;
        }
    }

    public override DateTimeOffset GetUtcNow() => _start.AddTicks(GetTimestamp());

    /// <summary>Timers currently armed.</summary>
    public int ArmedTimers
    {
        get
        {
            lock (_lock)
            {
                return _timers.Count(t => t.DueTicks is not null);
            }
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ManualTimer(this, callback, state);
        lock (_lock)
        {
            _timers.Add(timer);
        }

        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>Moves the clock forward, firing every timer that falls due on the way.</summary>
    public void Advance(TimeSpan by)
    {
        long target;
        lock (_lock)
        {
            target = _ticks + by.Ticks;
        }

        while (true)
        {
            ManualTimer? next;
            lock (_lock)
            {
                next = _timers.Where(t => t.DueTicks <= target).MinBy(t => t.DueTicks);
                if (next is null)
                {
                    _ticks = target;
                    return;
                }

                _ticks = Math.Max(_ticks, next.DueTicks!.Value);
                next.DueTicks = next.PeriodTicks > 0 ? _ticks + next.PeriodTicks : null;
            }

            next.Fire();
        }
    }

    /// <summary>Waits (in real time) until at least <paramref name="count"/> timers are armed.</summary>
    public Task WaitForArmedTimersAsync(int count, TimeSpan timeout) =>
        Conditions.WaitUntilAsync(() => ArmedTimers >= count, timeout, () => $"Expected {count} armed timers; {ArmedTimers} are.");

    /// <summary>Waits (in real time) until a timer is armed to fire exactly <paramref name="dueIn"/> from now.</summary>
    public async Task WaitForTimerAsync(TimeSpan dueIn, TimeSpan timeout) => await WaitForTimerAsync(dueIn, timeout, static () => false);

    /// <summary>
    /// Waits (in real time) until a timer is armed to fire exactly <paramref name="dueIn"/> from now, or until
    /// <paramref name="stopWaiting"/> holds.
    /// </summary>
    /// <returns><see langword="true"/> if the timer is armed; <see langword="false"/> if waiting stopped.</returns>
    public async Task<bool> WaitForTimerAsync(TimeSpan dueIn, TimeSpan timeout, Func<bool> stopWaiting)
    {
        ArgumentNullException.ThrowIfNull(stopWaiting);
        bool armed = false;
        await Conditions.WaitUntilAsync(
            () => stopWaiting() || (armed = IsArmedFor(dueIn)),
            timeout,
            () =>
            {
                lock (_lock)
                {
                    string timers = string.Join(", ", _timers.Select(t => t.DueTicks is { } d ? TimeSpan.FromTicks(d - _ticks).ToString() : "off"));
                    return $"No timer was armed for {dueIn} from now (timers: {timers}).";
                }
            }).ConfigureAwait(false);
        return armed;
    }

    private bool IsArmedFor(TimeSpan dueIn)
    {
        lock (_lock)
        {
            long due = _ticks + dueIn.Ticks;
            return _timers.Any(t => t.DueTicks == due);
        }
    }

    private sealed class ManualTimer(ManualTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        public long? DueTicks { get; set; }

        public long PeriodTicks { get; private set; }

        public void Fire() => callback(state);

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (owner._lock)
            {
                DueTicks = dueTime == Timeout.InfiniteTimeSpan ? null : owner._ticks + dueTime.Ticks;
                PeriodTicks = period == Timeout.InfiniteTimeSpan ? 0 : period.Ticks;
                return true;
            }
        }

        public void Dispose()
        {
            lock (owner._lock)
            {
                DueTicks = null;
                owner._timers.Remove(this);
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
