using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Testing;

namespace P2PNet.Core.Tests.Diagnostics;

/// <summary><c>services.AddHealthChecks().AddP2PNet()</c> through the real <see cref="HealthCheckService"/>.</summary>
public sealed class HealthCheckTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static ServiceProvider Build(int minimumPeers)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddP2PNet(o => o.ListenAddresses.Add(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")));
        services.AddHealthChecks().AddP2PNet(minimumPeers);
        return services.BuildServiceProvider();
    }

    private static async Task<HealthReportEntry> CheckAsync(IServiceProvider services) =>
        (await services.GetRequiredService<HealthCheckService>().CheckHealthAsync().WaitAsync(Timeout)).Entries["p2pnet"];

    [Fact]
    public async Task HealthCheck_NotStarted_IsUnhealthy_Started_IsHealthy_Stopped_IsUnhealthy()
    {
        await using var services = Build(minimumPeers: 0);
        Assert.Equal(HealthStatus.Unhealthy, (await CheckAsync(services)).Status);

        var hosted = Assert.Single(services.GetServices<IHostedService>().OfType<P2PNet.Hosting.P2PHostService>());
        await hosted.StartAsync(CancellationToken.None).WaitAsync(Timeout);
        var started = await CheckAsync(services);
        Assert.Equal(HealthStatus.Healthy, started.Status);
        Assert.Single((string[])started.Data["listen_addresses"]);
        Assert.Equal(false, started.Data["private_network"]);

        await hosted.StopAsync(CancellationToken.None).WaitAsync(Timeout);
        Assert.Equal(HealthStatus.Unhealthy, (await CheckAsync(services)).Status);
    }

    [Fact]
    public async Task HealthCheck_WithFewerPeersThanTheMinimum_IsDegraded_UntilAPeerConnects()
    {
        await using var services = Build(minimumPeers: 1);
        var hosted = Assert.Single(services.GetServices<IHostedService>().OfType<P2PNet.Hosting.P2PHostService>());
        await hosted.StartAsync(CancellationToken.None).WaitAsync(Timeout);
        try
        {
            var lonely = await CheckAsync(services);
            Assert.Equal(HealthStatus.Degraded, lonely.Status);
            Assert.Equal(0, lonely.Data["peers"]);

            await using var other = new P2PHost();
            await other.StartAsync().AsTask().WaitAsync(Timeout);
            var host = services.GetRequiredService<P2PHost>();
            await other.DialAsync(host.ListenAddresses[0]).AsTask().WaitAsync(Timeout);
            await Conditions.WaitUntilAsync(() => host.ConnectedPeers.Count > 0, Timeout, "the host never registered the inbound connection");
            var connected = await CheckAsync(services);
            Assert.Equal(HealthStatus.Healthy, connected.Status);
            Assert.Equal(1, connected.Data["peers"]);
        }
        finally
        {
            await hosted.StopAsync(CancellationToken.None).WaitAsync(Timeout);
        }
    }
}
