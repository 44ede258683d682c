using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Networking;
using P2PNet.Protocols.Nat;
using P2PNet.Protocols.Relay;
using P2PNet.Testing;

namespace P2PNet.Core.Tests.NatTraversal;

/// <summary>NAT traversal through the <see cref="INetwork"/> interface: the services <see cref="NetworkOptions"/>
/// turns on, and what <see cref="INetwork.Status"/> shows of them (reachability, reservations, relayed connections).</summary>
public sealed class NetworkNatStatusTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Status_ShowsReachabilityReservationsAndRelayedConnections()
    {
        await using var server = await StartAsync(new NetworkOptions
        {
            RelayService = new RelayServiceOptions(),
            AutoNatService = new AutoNatServiceOptions { AllowPrivateAddresses = true },
        });
        Multiaddr serverAddress = server.Host.ListenAddresses[0];
        var autoRelay = new AutoRelayOptions { OnlyWhenPrivate = false, CheckInterval = TimeSpan.FromMilliseconds(100) };
        autoRelay.StaticRelays.Add(serverAddress);
        await using var node = await StartAsync(new NetworkOptions
        {
            AutoNat = new AutoNatClientOptions { AllowPrivateAddresses = true, Confirmations = 1, ProbeInterval = TimeSpan.FromMilliseconds(200) },
            AutoRelay = autoRelay,
            HolePunching = new HolePunchOptions(),
        });
        var reachability = new TaskCompletionSource<Reachability>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var events = node.EventRegister<LocalReachabilityChanged>(e => reachability.TrySetResult(e.Reachability));
        await node.DialAsync(serverAddress).AsTask().WaitAsync(Timeout);

        Assert.Equal(Reachability.Public, await reachability.Task.WaitAsync(Timeout));
        await Conditions.WaitUntilAsync(() => node.Status().Reservations.Count == 1, Timeout, "a reservation in the status");
        var status = node.Status();
        Assert.Equal(Reachability.Public, status.Reachability);
        Assert.Equal(server.Host.PeerId, Assert.Single(status.Reservations).Relay);
        Assert.Contains(NatProtocols.HolePunch, status.Protocols);

        await using var other = await StartAsync(new NetworkOptions());
        Multiaddr circuit = status.Reservations[0].CircuitAddresses[0];
        var relayed = await other.DialAsync(circuit).AsTask().WaitAsync(Timeout);
        Assert.True(relayed.IsLimited);
        var peer = Assert.Single(other.Status().Peers, p => p.PeerId == node.Host.PeerId);
        Assert.Equal(1, peer.RelayedConnections);
    }

    private async Task<Libp2pNetwork> StartAsync(NetworkOptions options)
    {
        options.Host.ListenAddresses.Add(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
        var network = new Libp2pNetwork(XunitLoggerProvider.CreateFactory(output));
        network.Config(options);
        await network.InitAsync().AsTask().WaitAsync(Timeout);
        return network;
    }
}
