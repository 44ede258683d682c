using Microsoft.Extensions.Hosting;

namespace P2PNet.Proxy.UdpBridge.Internal;

/// <summary>
/// The lifetime of a host embedded in a library object: it starts and stops when its owner says so and, unlike the
/// default console lifetime, never listens to SIGINT/SIGTERM, which belong to the application around it.
/// </summary>
internal sealed class EmbeddedHostLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
