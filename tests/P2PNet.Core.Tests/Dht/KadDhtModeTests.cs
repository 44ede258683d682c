using System.Security.Cryptography;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Protocols.Dht;
using P2PNet.Protocols.Nat;
using P2PNet.Testing;

namespace P2PNet.Core.Tests.Dht;

/// <summary>Client and server mode (libp2p/specs kad-dht): a client queries but is not advertised and stays out of
/// routing tables; Auto serves exactly while AutoNAT says the host is public; the mode can change at run time.</summary>
public sealed class KadDhtModeTests
{
    private const string Kad = "/ipfs/kad/1.0.0";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task AClient_IsNotAdvertisedNorTabled_ButItsQueriesAndProvidersWork()
    {
        await using var group = await TestHostGroup.StartAsync(3);
        await using var server0 = new KadDht(group[0]);
        await using var server1 = new KadDht(group[1]);
        await using var client = new KadDht(group[2], new KadDhtOptions { Mode = KadDhtMode.Client });
        server0.Start();
        server1.Start();
        client.Start();
        Assert.False(client.IsServer);
        Assert.DoesNotContain(Kad, group[2].Protocols);

        await group[1].DialAsync(group[0].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        await group[2].DialAsync(group[0].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        await Conditions.WaitUntilAsync(() => group[0].PeerStore.Get(group[2].PeerId)?.Protocols.Count > 0 && client.RoutingTableSize == 1
            && server0.RoutingTableSize >= 1, Timeout, "identify done both ways");
        Assert.DoesNotContain(Kad, group[0].PeerStore.Get(group[2].PeerId)!.Protocols);
        Assert.Equal(1, server0.RoutingTableSize); // server 1 only: the client is not a DHT peer

        byte[] key = [0x12, 0x20, .. RandomNumberGenerator.GetBytes(32)];
        Assert.True(await client.ProvideAsync(key).WaitAsync(Timeout) > 0);
        var providers = await server1.FindProvidersAsync(key).WaitAsync(Timeout);
        Assert.Equal(group[2].PeerId, Assert.Single(providers).Peer);
    }

    [Fact]
    public async Task AutoMode_ServesWhilePublic_AndPeersDropItWhenPrivate()
    {
        await using var group = await TestHostGroup.StartAsync(2);
        await using var server = new KadDht(group[0]);
        await using var auto = new KadDht(group[1], new KadDhtOptions { Mode = KadDhtMode.Auto });
        server.Start();
        auto.Start();
        await group[1].DialAsync(group[0].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        await Conditions.WaitUntilAsync(() => auto.RoutingTableSize == 1, Timeout, "the auto node tables the server");
        Assert.False(auto.IsServer); // reachability unknown: a client
        Assert.Equal(0, server.RoutingTableSize);

        group[1].SetReachability(Reachability.Public);
        Assert.True(auto.IsServer);
        Assert.Contains(Kad, group[1].Protocols);
        await Conditions.WaitUntilAsync(() => server.RoutingTableSize == 1, Timeout, "identify push: the server tables the now-public node");

        group[1].SetReachability(Reachability.Private);
        Assert.False(auto.IsServer);
        Assert.DoesNotContain(Kad, group[1].Protocols);
        await Conditions.WaitUntilAsync(() => server.RoutingTableSize == 0, Timeout, "identify push: the server drops the now-private node");
    }

    [Fact]
    public async Task AutoMode_BecomesAServer_WhenAnAutoNatProbeConfirmsTheNodeIsReachable()
    {
        await using var group = await TestHostGroup.StartAsync(2);
        var (server, node) = (group[0], group[1]);
        await using var service = new AutoNatService(server, new AutoNatServiceOptions { AllowPrivateAddresses = true });
        service.Start();
        await using var serverDht = new KadDht(server);
        serverDht.Start();
        await using var autoNat = new AutoNatClient(node, new AutoNatClientOptions
        {
            AllowPrivateAddresses = true, // loopback stands for a public address here
            Confirmations = 1,
            BackgroundProbing = false,
        });
        await using var dht = new KadDht(node, new KadDhtOptions { Mode = KadDhtMode.Auto });
        dht.Start();
        await node.DialAsync(server.ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        await Conditions.WaitUntilAsync(() => node.PeerStore.Get(server.PeerId)?.Protocols.Contains(NatProtocols.AutoNatV2DialRequest) == true
            && dht.RoutingTableSize == 1, Timeout, "identify of the server");
        autoNat.Start();
        Assert.False(dht.IsServer);

        var address = node.ListenAddresses.First(a => !a.Contains(MultiaddrProtocol.P2pCircuit)).WithoutPeerId();
        Assert.True(await autoNat.ProbeAsync(server.PeerId, address).WaitAsync(Timeout));

        Assert.Equal(Reachability.Public, node.Reachability);
        Assert.True(dht.IsServer);
        await Conditions.WaitUntilAsync(() => serverDht.RoutingTableSize == 1, Timeout, "the server tables the now-public node");
    }

    [Fact]
    public async Task SettingMode_SwitchesServingAtRunTime_AndDisposeStopsServing()
    {
        await using var group = await TestHostGroup.StartAsync(1);
        var dht = new KadDht(group[0], new KadDhtOptions { Mode = KadDhtMode.Client });
        dht.Start();
        Assert.DoesNotContain(Kad, group[0].Protocols);
        dht.Mode = KadDhtMode.Server;
        Assert.True(dht.IsServer);
        Assert.Contains(Kad, group[0].Protocols);
        dht.Mode = KadDhtMode.Auto; // reachability unknown
        Assert.False(dht.IsServer);
        dht.Mode = KadDhtMode.Server;
        Assert.Throws<ArgumentOutOfRangeException>(() => dht.Mode = (KadDhtMode)7);
        await dht.DisposeAsync().AsTask().WaitAsync(Timeout);
        Assert.False(dht.IsServer);
        Assert.DoesNotContain(Kad, group[0].Protocols);
    }
}
