using System.Security.Cryptography;
using P2PNet.Multiformats;
using P2PNet.Protocols.Relay;
using P2PNet.Testing;
using P2PNet.Testing.Interop;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.NatTraversal;

/// <summary>Circuit relay v2 with js-libp2p (<c>@libp2p/circuit-relay-v2</c>) in both roles, over loopback.</summary>
public sealed class RelayJsInteropTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task JsRelay_GrantsP2PNetAReservation_AndAnotherP2PNetPeerReachesItThroughTheCircuit()
    {
        await using var jsRelay = await JsLibp2p.StartAsync(["--relay-service"], Timeout).WaitAsync(Timeout);
        await using var world = await RelayFixture.StartAsync(output); // its own relay stays unused here
        var listener = await world.NewHostAsync();
        await using var client = new RelayClient(listener);
        var reservation = await client.ReserveAsync(Multiaddr.Parse(jsRelay.ListenAddresses[0])).WaitAsync(Timeout);
        Assert.Equal(jsRelay.PeerId, reservation.Relay.ToString());
        Multiaddr circuit = reservation.CircuitAddresses.First(a => a.ToString().StartsWith(jsRelay.ListenAddresses[0], StringComparison.Ordinal));

        var dialer = await world.NewHostAsync();
        var connection = await dialer.DialAsync(circuit).AsTask().WaitAsync(Timeout);
        Assert.True(connection.IsLimited);
        byte[] payload = RandomNumberGenerator.GetBytes(10_000); // the js relay's default circuit limit is 128 KiB
        Assert.Equal(payload, await EchoClient.EchoAsync(connection, payload).WaitAsync(Timeout));
    }

    [Fact]
    public async Task P2PNetRelay_GrantsJsAReservation_AndP2PNetReachesTheJsPeerThroughIt()
    {
        await using var world = await RelayFixture.StartAsync(output);
        await using var js = await JsLibp2p.StartAsync(["--listen", "/ip4/127.0.0.1/tcp/0", "--listen", $"{world.RelayAddress}/p2p-circuit"], Timeout).WaitAsync(Timeout);
        string reserved = await js.WaitForLineAsync(l => l.StartsWith("RESERVED ", StringComparison.Ordinal), Timeout).WaitAsync(Timeout);
        var circuit = Multiaddr.Parse(reserved["RESERVED ".Length..]);
        Assert.Equal(1, world.Relay.ReservationCount);

        var dialer = await world.NewHostAsync();
        var connection = await dialer.DialAsync(circuit).AsTask().WaitAsync(Timeout);
        Assert.Equal(js.PeerId, connection.RemotePeer.ToString());
        byte[] payload = RandomNumberGenerator.GetBytes(50_000);
        Assert.Equal(payload, await EchoClient.EchoAsync(connection, payload).WaitAsync(Timeout));
    }

    [Fact]
    public async Task JsDialsThroughP2PNetRelay_ToAP2PNetPeerWithAReservation()
    {
        await using var world = await RelayFixture.StartAsync(output);
        var (listener, _, reservation) = await world.NewReservedHostAsync();
        var relayedIn = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var watch = listener.Events.Subscribe<P2PNet.Host.PeerConnectednessChanged>(e =>
        {
            if (e.Connectedness == P2PNet.Host.Connectedness.Connected && !e.Peer.Equals(world.RelayHost.PeerId))
            {
                relayedIn.TrySetResult(listener.GetConnections(e.Peer).All(c => c.IsLimited));
            }
        });
        var result = (await JsLibp2p.RunAsync(["echo", reservation.CircuitAddresses[0].ToString(), "--bytes", "50000"], Timeout).WaitAsync(Timeout)).EnsureSuccess();
        Assert.Contains("\"ok\":true", result.Stdout, StringComparison.Ordinal);
        Assert.True(await relayedIn.Task.WaitAsync(Timeout), "the js peer came in through the relay only");
    }
}
