namespace P2PNet.Host.Internal;

/// <summary>
/// A part of the host with a lifetime of its own (discovery, peer-store persistence, identify, idle maintenance).
/// Its constructor only stores settings: it opens nothing and starts nothing. <see cref="P2PHost"/> starts its services
/// in order when it starts and stops them in reverse order when it stops, after its listeners and connections closed.
/// </summary>
/// <remarks>
/// Internal on purpose: applications that need work with the host's lifetime run it as an <c>IHostedService</c> beside
/// <c>AddP2PNet()</c>; a public extension point would freeze the host's start and stop order into the API.
/// </remarks>
internal interface IHostService
{
    /// <summary>A short name for logs and for <see cref="HostServiceException.ServiceName"/>.</summary>
    string Name { get; }

    /// <summary>Opens what the service needs and starts its loops. A throw stops the services started before it.</summary>
    Task StartAsync(CancellationToken cancellationToken);

    /// <summary>Stops the loops (they also watch <see cref="P2PHost.StoppingToken"/>), flushes, closes. Called once, and
    /// only after a successful <see cref="StartAsync"/>.</summary>
    Task StopAsync(CancellationToken cancellationToken);
}
