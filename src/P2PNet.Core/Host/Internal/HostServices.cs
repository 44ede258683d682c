using Microsoft.Extensions.Logging;

namespace P2PNet.Host.Internal;

/// <summary>The host's services in start order: started one by one, stopped in reverse order, each at most once.</summary>
internal sealed partial class HostServices(ILogger logger)
{
    private readonly List<IHostService> _services = [];
    private readonly Stack<IHostService> _started = new();
    private readonly Lock _lock = new();

    /// <summary>The services in start order.</summary>
    public IReadOnlyList<IHostService> All
    {
        get
        {
            lock (_lock)
            {
                return [.. _services];
            }
        }
    }

    /// <summary>Adds a service; it starts after those added before it.</summary>
    public void Add(IHostService service)
    {
        lock (_lock)
        {
            _services.Add(service);
        }
    }

    /// <summary>Starts every service in order; when one fails, stops those already started (in reverse order) and
    /// throws <see cref="HostServiceException"/>.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var service in All)
        {
            try
            {
                await service.StartAsync(cancellationToken).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // rethrown, typed, after the started services are stopped
            catch (Exception e)
#pragma warning restore CA1031
            {
                StartFailed(logger, service.Name, e.Message);
                await StopAsync(CancellationToken.None).ConfigureAwait(false);
                throw new HostServiceException(service.Name, $"The host service '{service.Name}' failed to start: {e.Message}", e);
            }
            lock (_lock)
            {
                _started.Push(service);
            }
        }
    }

    /// <summary>Stops the started services in reverse order of start. A failing stop is logged and the others still stop.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            IHostService? service;
            lock (_lock)
            {
                if (!_started.TryPop(out service))
                {
                    return;
                }
            }
            try
            {
                await service.StopAsync(cancellationToken).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // stopping goes on: the other services still stop and close their files
            catch (Exception e)
#pragma warning restore CA1031
            {
                StopFailed(logger, service.Name, e.Message);
            }
        }
    }

    [LoggerMessage(1020, LogLevel.Error, "Host service {Service} failed to start: {Reason}")]
    private static partial void StartFailed(ILogger logger, string service, string reason);

    [LoggerMessage(1021, LogLevel.Warning, "Host service {Service} failed to stop: {Reason}")]
    private static partial void StopFailed(ILogger logger, string service, string reason);
}
