using Microsoft.Extensions.Hosting;
using P2PNet.Host;
using P2PNet.Messaging;

namespace P2PNet.Hosting;

/// <summary>Starts the registered <see cref="P2PHost"/> with the application (so <see cref="P2PHost.ListenAddresses"/>
/// holds the bound addresses once the application has started) and stops it gracefully on shutdown.</summary>
internal sealed class P2PHostService(P2PHost host, IMessenger messenger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _ = messenger; // resolved so its protocol is registered before the host listens
        return host.StartAsync(cancellationToken).AsTask();
    }

    public Task StopAsync(CancellationToken cancellationToken) => host.StopAsync(cancellationToken).AsTask();
}
