using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using P2PNet.Host;
using P2PNet.Messaging;
using P2PNet.Multiformats;

namespace P2PNet.Core.Tests.DependencyInjection;

public sealed class AddP2PNetTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task AddP2PNet_HostedServiceStartsAndStopsTheConfiguredHost()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddP2PNet(o =>
        {
            o.ListenAddresses.Add(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
            o.AgentVersion = "di-test/1";
        });
        await using var provider = services.BuildServiceProvider();
        var host = provider.GetRequiredService<P2PHost>();
        Assert.Same(host, provider.GetRequiredService<P2PHost>());
        Assert.Equal("di-test/1", host.Options.AgentVersion);
        Assert.NotNull(provider.GetRequiredService<IMessenger>());

        var hosted = Assert.Single(provider.GetServices<IHostedService>());
        await hosted.StartAsync(CancellationToken.None).WaitAsync(Timeout);
        Assert.Single(host.ListenAddresses);
        Assert.Contains(Messenger.ProtocolId, host.Protocols);

        await hosted.StopAsync(CancellationToken.None).WaitAsync(Timeout);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => host.DialAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/1")).AsTask());
    }
}
