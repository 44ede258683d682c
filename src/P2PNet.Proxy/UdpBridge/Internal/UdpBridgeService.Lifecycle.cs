namespace P2PNet.Proxy.UdpBridge.Internal;

/// <summary>Start, sweep and graceful shutdown.</summary>
internal sealed partial class UdpBridgeService
{
    /// <summary>The sweeper's period: fine enough for the shortest configured timeout, at most once a second.</summary>
    internal TimeSpan SweepPeriod
    {
        get
        {
            TimeSpan shortest = Options.CloseTimeout;
            if (Options.IdleTimeout != Timeout.InfiniteTimeSpan && Options.IdleTimeout < shortest)
            {
                shortest = Options.IdleTimeout;
            }

            TimeSpan period = shortest / 4;
            return period < TimeSpan.FromMilliseconds(20) ? TimeSpan.FromMilliseconds(20)
                : period > TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1)
                : period;
        }
    }

    /// <inheritdoc />
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        lock (_timerLock)
        {
            _sweeper ??= TimeProvider.CreateTimer(static state => ((UdpBridgeService)state!).Sweep(), this, SweepPeriod, SweepPeriod);
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// Closes every session with 1001 (going away) before the server stops: waits up to
    /// <see cref="UdpBridgeOptions.CloseTimeout"/> for browsers to answer, then aborts whoever has not.
    /// </summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        var allClosed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _allClosed = allClosed;
        _stopping = true;
        if (ClientCount == 0)
        {
            allClosed.TrySetResult();
        }

        Logger.ShuttingDown(_sessions.Count);
        foreach (BridgeSession session in _sessions.Values)
        {
            session.RequestClose(UdpBridgeCloseStatus.ShuttingDown, "bridge shutting down", "shutdown");
        }

        try
        {
            await allClosed.Task.WaitAsync(Options.CloseTimeout, TimeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            foreach (BridgeSession session in _sessions.Values)
            {
                session.Abort();
            }

            try
            {
                // Aborted sessions unwind at once; this only waits for their handlers to return.
                await allClosed.Task.WaitAsync(TimeSpan.FromSeconds(1), TimeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The host's shutdown timeout ran out: the server aborts what is left.
        }
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken)
    {
        StopSweeper();
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public void Dispose() => StopSweeper();

    private void StopSweeper()
    {
        lock (_timerLock)
        {
            _sweeper?.Dispose();
            _sweeper = null;
        }
    }

    private void Sweep()
    {
        long now = TimeProvider.GetTimestamp();
        foreach (BridgeSession session in _sessions.Values)
        {
            session.CheckTimers(now);
        }
    }
}
