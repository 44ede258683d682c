using System.Security.Cryptography;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Protocols.Ping;
using P2PNet.Protocols.Relay;
using P2PNet.Testing;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.NatTraversal;

/// <summary>Circuit relay v2 end to end over loopback TCP: reservations, relayed dials, limits, refusals.</summary>
public sealed class RelayTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = RelayFixture.Timeout;

    [Fact]
    public async Task PeerWithReservation_IsReachedThroughItsCircuitAddress_OverALimitedConnection()
    {
        await using var world = await RelayFixture.StartAsync(output, new RelayServiceOptions { CircuitDataLimit = 4 << 20 });
        var (listener, _, reservation) = await world.NewReservedHostAsync();
        var dialer = await world.NewHostAsync();

        Multiaddr circuit = Assert.Single(reservation.CircuitAddresses);
        Assert.Equal($"{world.RelayAddress}/p2p-circuit/p2p/{listener.PeerId}", circuit.ToString());
        Assert.Contains(circuit, listener.ListenAddresses);
        Assert.Equal(world.RelayHost.PeerId, reservation.Relay);
        Assert.Equal(TimeSpan.FromMinutes(2), reservation.DurationLimit);
        Assert.Equal(4 << 20, reservation.DataLimit);

        P2PConnection connection = await dialer.DialAsync(circuit).AsTask().WaitAsync(Timeout);
        Assert.Equal(listener.PeerId, connection.RemotePeer);
        Assert.True(connection.IsLimited);
        await foreach (var rtt in PingProtocol.PingAsync(connection, 3).WithCancellation(new CancellationTokenSource(Timeout).Token))
        {
            Assert.True(rtt > TimeSpan.Zero);
        }
        byte[] payload = RandomNumberGenerator.GetBytes(1 << 20);
        byte[] echoed = await EchoClient.EchoAsync(connection, payload).WaitAsync(Timeout);
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(echoed));

        var inbound = Assert.Single(listener.GetConnections(dialer.PeerId));
        Assert.True(inbound.IsLimited);
        Assert.Equal(ConnectionDirection.Inbound, inbound.Direction);
        Assert.Equal(1, world.Relay.CircuitCount);
    }

    [Fact]
    public async Task ReservationAddresses_AreAnnouncedAsLocalAddressesUpdated_AndWithdrawnOnDispose()
    {
        await using var world = await RelayFixture.StartAsync(output);
        var host = await world.NewHostAsync();
        var added = new TaskCompletionSource<LocalAddressesUpdated>(TaskCreationOptions.RunContinuationsAsynchronously);
        var removed = new TaskCompletionSource<LocalAddressesUpdated>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = host.Events.Subscribe<LocalAddressesUpdated>(e =>
        {
            if (e.Added.Any(a => a.Contains(MultiaddrProtocol.P2pCircuit)))
            {
                added.TrySetResult(e);
            }
            if (e.Removed.Any(a => a.Contains(MultiaddrProtocol.P2pCircuit)))
            {
                removed.TrySetResult(e);
            }
        });
        var client = new RelayClient(host);
        var reservation = await client.ReserveAsync(world.RelayAddress).WaitAsync(Timeout);
        var update = await added.Task.WaitAsync(Timeout);
        Assert.Equal(reservation.CircuitAddresses, update.Added);
        Assert.Contains(reservation.CircuitAddresses[0], update.Current);

        await client.DisposeAsync().AsTask().WaitAsync(Timeout);
        Assert.Equal(reservation.CircuitAddresses, (await removed.Task.WaitAsync(Timeout)).Removed);
        Assert.DoesNotContain(host.ListenAddresses, a => a.Contains(MultiaddrProtocol.P2pCircuit));
    }

    [Fact]
    public async Task Dial_ToPeerWithoutReservation_IsRefusedWithNoReservation()
    {
        await using var world = await RelayFixture.StartAsync(output);
        var unreserved = await world.NewHostAsync();
        var dialer = await world.NewHostAsync();
        await unreserved.DialAsync(world.RelayAddress).AsTask().WaitAsync(Timeout); // connected, but holds no reservation

        var circuit = world.RelayAddress.Encapsulate("/p2p-circuit").WithPeerId(unreserved.PeerId);
        var refused = await Assert.ThrowsAsync<RelayRefusedException>(() => dialer.DialAsync(circuit).AsTask().WaitAsync(Timeout));
        Assert.Equal(RelayStatus.NoReservation, refused.Status);
        Assert.Empty(dialer.GetConnections(unreserved.PeerId));
    }

    [Fact]
    public async Task RelayedConnections_RefusedByTheDestinationsOption_FailWithPermissionDenied()
    {
        await using var world = await RelayFixture.StartAsync(output);
        var (listener, _, reservation) = await world.NewReservedHostAsync(new RelayClientOptions { AcceptRelayedConnections = false });
        var dialer = await world.NewHostAsync();

        var refused = await Assert.ThrowsAsync<RelayRefusedException>(() => dialer.DialAsync(reservation.CircuitAddresses[0]).AsTask().WaitAsync(Timeout));
        Assert.Equal(RelayStatus.PermissionDenied, refused.Status);
        Assert.Empty(listener.GetConnections(dialer.PeerId));
        Assert.Equal(0, world.Relay.CircuitCount);
    }

    [Fact]
    public async Task Reservations_BeyondTheTotalLimit_AreRefused_AndTheHeldOneKeepsWorking()
    {
        await using var world = await RelayFixture.StartAsync(output, new RelayServiceOptions { MaxReservations = 1 });
        var (held, heldClient, reservation) = await world.NewReservedHostAsync();
        var late = await world.NewHostAsync();
        var lateClient = new RelayClient(late);
        await using (lateClient)
        {
            var refused = await Assert.ThrowsAsync<RelayRefusedException>(() => lateClient.ReserveAsync(world.RelayAddress).WaitAsync(Timeout));
            Assert.Equal(RelayStatus.ResourceLimitExceeded, refused.Status);
            Assert.Empty(lateClient.Reservations);
            Assert.DoesNotContain(late.ListenAddresses, a => a.Contains(MultiaddrProtocol.P2pCircuit));
        }

        // The refusal took nothing from the peer that holds the slot: it is still reachable, and renewing is not "another" reservation.
        Assert.NotNull(await heldClient.ReserveAsync(world.RelayAddress).WaitAsync(Timeout));
        var connection = await late.DialAsync(reservation.CircuitAddresses[0]).AsTask().WaitAsync(Timeout);
        Assert.Equal(held.PeerId, connection.RemotePeer);
        Assert.Equal(1, world.Relay.ReservationCount);
    }

    [Fact]
    public async Task Reservations_BeyondThePerIpLimit_AreRefused()
    {
        await using var world = await RelayFixture.StartAsync(output, new RelayServiceOptions { MaxReservationsPerIp = 2 });
        await world.NewReservedHostAsync();
        await world.NewReservedHostAsync();
        var third = await world.NewHostAsync();
        await using var client = new RelayClient(third);
        var refused = await Assert.ThrowsAsync<RelayRefusedException>(() => client.ReserveAsync(world.RelayAddress).WaitAsync(Timeout));
        Assert.Equal(RelayStatus.ResourceLimitExceeded, refused.Status);
        Assert.Equal(2, world.Relay.ReservationCount);
    }

    [Fact]
    public async Task Circuits_BeyondThePerPeerLimit_AreRefused_WithoutClosingTheOpenOne()
    {
        await using var world = await RelayFixture.StartAsync(output, new RelayServiceOptions { MaxCircuitsPerPeer = 1 });
        var (listener, _, reservation) = await world.NewReservedHostAsync();
        var first = await world.NewHostAsync();
        var second = await world.NewHostAsync();
        var open = await first.DialAsync(reservation.CircuitAddresses[0]).AsTask().WaitAsync(Timeout);

        var refused = await Assert.ThrowsAsync<RelayRefusedException>(() => second.DialAsync(reservation.CircuitAddresses[0]).AsTask().WaitAsync(Timeout));
        Assert.Equal(RelayStatus.ResourceLimitExceeded, refused.Status);
        byte[] payload = RandomNumberGenerator.GetBytes(1000);
        Assert.Equal(payload, await EchoClient.EchoAsync(open, payload).WaitAsync(Timeout));
    }

    [Fact]
    public async Task Circuit_BeyondItsDataLimit_IsReset_AndANewCircuitStillWorks()
    {
        await using var world = await RelayFixture.StartAsync(output, new RelayServiceOptions { CircuitDataLimit = 64 * 1024 });
        var (listener, _, reservation) = await world.NewReservedHostAsync();
        var dialer = await world.NewHostAsync();
        var connection = await dialer.DialAsync(reservation.CircuitAddresses[0]).AsTask().WaitAsync(Timeout);

        await Assert.ThrowsAnyAsync<IOException>(() => EchoClient.EchoAsync(connection, RandomNumberGenerator.GetBytes(1 << 20)).WaitAsync(Timeout));
        await connection.Closed.WaitAsync(Timeout);
        await WaitUntilAsync(() => world.Relay.CircuitCount == 0);

        var again = await dialer.DialAsync(reservation.CircuitAddresses[0]).AsTask().WaitAsync(Timeout);
        Assert.NotSame(connection, again);
        byte[] small = RandomNumberGenerator.GetBytes(1000);
        Assert.Equal(small, await EchoClient.EchoAsync(again, small).WaitAsync(Timeout));
    }

    [Fact]
    public async Task Circuit_BeyondItsDuration_IsReset_OnTheRelaysClock()
    {
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        await using var world = await RelayFixture.StartAsync(output, new RelayServiceOptions { CircuitDuration = TimeSpan.FromSeconds(30) }, clock);
        var (_, _, reservation) = await world.NewReservedHostAsync();
        var dialer = await world.NewHostAsync();
        var connection = await dialer.DialAsync(reservation.CircuitAddresses[0]).AsTask().WaitAsync(Timeout);
        byte[] small = RandomNumberGenerator.GetBytes(100);
        Assert.Equal(small, await EchoClient.EchoAsync(connection, small).WaitAsync(Timeout));
        Assert.False(connection.Closed.IsCompleted);

        clock.Advance(TimeSpan.FromSeconds(31));
        await connection.Closed.WaitAsync(Timeout);
        await WaitUntilAsync(() => world.Relay.CircuitCount == 0);
    }

    [Fact]
    public async Task Reservation_IsRenewedBeforeItExpires_SoThePeerStaysReachablePastTheFirstTtl()
    {
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        await using var world = await RelayFixture.StartAsync(output, new RelayServiceOptions { ReservationTtl = TimeSpan.FromMinutes(10) }, clock);
        var (listener, client, first) = await world.NewReservedHostAsync();
        var dialer = await world.NewHostAsync();

        clock.Advance(TimeSpan.FromMinutes(6)); // past half the lifetime: the client renews
        await WaitUntilAsync(() => client.Reservations.Single().Expires > first.Expires);
        clock.Advance(TimeSpan.FromMinutes(6)); // past the first reservation's expiry
        var connection = await dialer.DialAsync(first.CircuitAddresses[0]).AsTask().WaitAsync(Timeout);
        Assert.Equal(listener.PeerId, connection.RemotePeer);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var deadline = new CancellationTokenSource(Timeout);
        while (!condition())
        {
            await Task.Delay(20, deadline.Token);
        }
    }
}
