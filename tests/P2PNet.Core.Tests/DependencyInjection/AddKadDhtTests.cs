using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using P2PNet.Core.Tests.Dht;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Protocols.Dht;
using P2PNet.Testing;

namespace P2PNet.Core.Tests.DependencyInjection;

public sealed class AddKadDhtTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task AddKadDht_StartsTheDhtWithTheApplication_BootstrapsThroughTheHostsBootstrapPeers_AndDisposesItOnStop()
    {
        await RunAsync(identifiedBeforeTheDhtStarts: false);
    }

    /// <summary>The host's service starts first and dials its bootstrap peers on its own: the only identification can
    /// come before the DHT's service subscribes to it. It must bootstrap all the same.</summary>
    [Fact]
    public async Task AddKadDht_Bootstraps_WhenTheBootstrapPeerWasIdentifiedBeforeTheDhtsServiceStarted()
    {
        await RunAsync(identifiedBeforeTheDhtStarts: true);
    }

    private static async Task RunAsync(bool identifiedBeforeTheDhtStarts)
    {
        await using var network = await DhtTestNetwork.StartAsync(3);
        byte[] content = RandomNumberGenerator.GetBytes(34);
        Assert.True(await network.Dhts[2].ProvideAsync(content).WaitAsync(Timeout) > 0);

        var services = new ServiceCollection();
        services.AddLogging();
        services.AddP2PNet(o =>
        {
            o.ListenAddresses.Add(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
            o.BootstrapPeers.Add(network.Group[0].ListenAddresses[0].WithPeerId(network.Group[0].PeerId));
        });
        services.AddKadDht(o => o.Mode = KadDhtMode.Client);
        await using var provider = services.BuildServiceProvider();
        var dht = provider.GetRequiredService<KadDht>();
        var host = provider.GetRequiredService<P2PHost>();
        Assert.Equal(KadDhtMode.Client, dht.Mode);
        var hosted = provider.GetServices<IHostedService>().ToArray();
        Assert.Equal(2, hosted.Length); // the host's, then the DHT's

        await hosted[0].StartAsync(CancellationToken.None).WaitAsync(Timeout);
        if (identifiedBeforeTheDhtStarts)
        {
            string protocol = new KadDhtOptions().ProtocolId;
            await Conditions.WaitUntilAsync(
                () => host.PeerStore.Get(network.Group[0].PeerId)?.Protocols.Contains(protocol) == true,
                Timeout, () => "the bootstrap peer was not identified", CancellationToken.None);
        }
        await hosted[1].StartAsync(CancellationToken.None).WaitAsync(Timeout);
        Assert.Same(dht, host.PeerRouting);
        // Bootstrapped through host 0: the lookup of its own id met the other nodes.
        await Conditions.WaitUntilAsync(() => dht.RoutingTableSize >= 3, Timeout, () => $"{dht.RoutingTableSize} peers in the table", CancellationToken.None);
        var found = await dht.FindProvidersAsync(content).WaitAsync(Timeout);
        Assert.Equal(network.Group[2].PeerId, Assert.Single(found).Peer);

        foreach (var service in hosted.Reverse())
        {
            await service.StopAsync(CancellationToken.None).WaitAsync(Timeout);
        }
        Assert.Null(host.PeerRouting); // disposed: no longer the host's routing
    }
}
