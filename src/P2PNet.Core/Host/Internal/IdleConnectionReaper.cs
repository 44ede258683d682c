namespace P2PNet.Host.Internal;

/// <summary>
/// Closes connections that carried no stream for <see cref="P2PHostOptions.IdleTimeout"/> (off when it is zero):
/// one periodic check, every quarter of the timeout (between 100 ms and 5 s), on the host's clock.
/// </summary>
internal sealed class IdleConnectionReaper(P2PHost host) : IHostService
{
    private readonly TaskTracker _closing = new();
    private CancellationTokenSource? _stopping;
    private Task? _loop;

    /// <inheritdoc />
    public string Name => "idle maintenance";

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var idle = host.Options.IdleTimeout;
        if (idle > TimeSpan.Zero)
        {
            _stopping = CancellationTokenSource.CreateLinkedTokenSource(host.StoppingToken);
            _loop = RunAsync(idle, _stopping.Token);
        }
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_stopping is null || _loop is null)
        {
            return;
        }
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        await _closing.WhenAllAsync(host.Options.ConnectionCloseTimeout).ConfigureAwait(false);
        _stopping.Dispose();
    }

    private async Task RunAsync(TimeSpan idle, CancellationToken stopping)
    {
        var period = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(100).Ticks, Math.Min(idle.Ticks / 4, TimeSpan.FromSeconds(5).Ticks)));
        using var timer = new PeriodicTimer(period, host.TimeProvider);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false))
            {
                foreach (var connection in host.Connections)
                {
                    if (connection.StreamCount == 0 && host.TimeProvider.GetElapsedTime(connection.LastActivity) >= idle && !host.IsProtected(connection.RemotePeer))
                    {
                        HostLog.ClosingIdle(host.Logger, connection.Id, connection.RemotePeer);
                        _closing.Track(connection.DisposeAsync().AsTask());
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
