using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Protocols.Relay;
using P2PNet.Testing;

namespace P2PNet.Core.Tests.NatTraversal;

/// <summary>AutoRelay: reserves while the node is private, gives the reservations up once it is public, and moves to
/// another relay when its relay goes away.</summary>
public sealed class AutoRelayTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ReservesWhilePrivate_ReleasesWhenPublic_AndAdvertisesTheCircuitAddress()
    {
        await using var group = await TestHostGroup.StartAsync(2);
        var (relayHost, node) = (group[0], group[1]);
        await using var relay = new RelayService(relayHost);
        relay.Start();
        await using var client = new RelayClient(node);
        var options = new AutoRelayOptions { CheckInterval = TimeSpan.FromMilliseconds(100) };
        options.StaticRelays.Add(relayHost.ListenAddresses[0]);
        await using var autoRelay = new AutoRelay(node, client, options);
        var added = new List<Multiaddr>();
        using var addresses = node.Events.Subscribe<LocalAddressesUpdated>(e => { lock (added) { added.AddRange(e.Added); } });
        autoRelay.Start();

        await Task.Delay(300);
        Assert.Empty(client.Reservations); // reachability unknown: nothing to do yet

        node.SetReachability(Reachability.Private);
        await Conditions.WaitUntilAsync(() => autoRelay.Relays.Contains(relayHost.PeerId), Timeout, "a reservation while private");
        Multiaddr circuit = Assert.Single(client.Reservations).CircuitAddresses[0];
        Assert.Contains(circuit, node.ListenAddresses);
        lock (added)
        {
            Assert.Contains(circuit, added);
        }

        node.SetReachability(Reachability.Public);
        await Conditions.WaitUntilAsync(() => client.Reservations.Count == 0, Timeout, "the reservation released once public");
        Assert.DoesNotContain(circuit, node.ListenAddresses);
    }

    [Fact]
    public async Task WhenTheRelayGoesAway_ItReservesOnAnother()
    {
        await using var group = await TestHostGroup.StartAsync(3);
        var (first, second, node) = (group[0], group[1], group[2]);
        await using var firstRelay = new RelayService(first);
        firstRelay.Start();
        await using var secondRelay = new RelayService(second);
        secondRelay.Start();
        await using var client = new RelayClient(node, new RelayClientOptions { RetryInterval = TimeSpan.FromMilliseconds(200) });
        var options = new AutoRelayOptions { MaxReservations = 1, OnlyWhenPrivate = false, CheckInterval = TimeSpan.FromMilliseconds(100) };
        options.StaticRelays.Add(first.ListenAddresses[0]);
        options.StaticRelays.Add(second.ListenAddresses[0]);
        await using var autoRelay = new AutoRelay(node, client, options);
        autoRelay.Start();
        await Conditions.WaitUntilAsync(() => autoRelay.Relays.SequenceEqual([first.PeerId]), Timeout, "a reservation on the first relay");

        await first.DisposeAsync(); // the relay goes away (its host stops)
        await Conditions.WaitUntilAsync(() => client.Reservations.Select(r => r.Relay).SequenceEqual([second.PeerId]), Timeout,
            () => $"moved to the second relay; holding {string.Join(", ", client.Reservations.Select(r => r.Relay))}");
        Assert.Equal([second.PeerId], autoRelay.Relays);
        Assert.Contains(node.ListenAddresses, a => a.ToString().Contains($"/p2p/{second.PeerId}/p2p-circuit", StringComparison.Ordinal));
        Assert.DoesNotContain(node.ListenAddresses, a => a.ToString().Contains($"/p2p/{first.PeerId}/p2p-circuit", StringComparison.Ordinal));
    }
}
