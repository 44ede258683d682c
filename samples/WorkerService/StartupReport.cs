using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using P2PNet.Host;

namespace WorkerService;

/// <summary>Once the application has started (the host listens, Kestrel is bound), prints one <c>LISTEN</c> line per
/// libp2p address and one <c>HEALTH</c> line with the health endpoint, for people and for scripts.</summary>
internal sealed class StartupReport(P2PHost host, IServer server, IHostApplicationLifetime lifetime) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStarted.Register(() =>
        {
            Console.Out.WriteLine($"PEER {host.PeerId}");
            foreach (var address in host.ListenAddresses)
            {
                Console.Out.WriteLine($"LISTEN {address}");
            }
            foreach (var url in server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [])
            {
                Console.Out.WriteLine($"HEALTH {url.TrimEnd('/')}/health");
            }
            Console.Out.Flush();
        });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
