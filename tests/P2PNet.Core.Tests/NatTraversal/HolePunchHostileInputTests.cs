using P2PNet.Host;
using P2PNet.IO;
using P2PNet.Protocols.Nat;
using P2PNet.Testing;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.NatTraversal;

/// <summary>DCUtR messages a hostile peer could send over a relayed connection: each ends the hole-punch stream, and
/// the relayed connection keeps carrying data.</summary>
public sealed class HolePunchHostileInputTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = RelayFixture.Timeout;

    public static TheoryData<string, byte[]> Messages => new()
    {
        // A length prefix of 1 MiB: refused before a byte of the body is read.
        { "oversized", [0x80, 0x80, 0x40, 1, 2, 3] },
        { "not protobuf", [3, 0xFF, 0xFF, 0xFF] },
        { "SYNC before CONNECT", [3, 0x08, 0xAC, 0x02] },
        { "no type", [0] },
    };

    [Theory]
    [MemberData(nameof(Messages))]
    public async Task HostileHolePunchMessage_EndsTheStream_AndTheRelayedConnectionKeepsWorking(string what, byte[] message)
    {
        output.WriteLine(what);
        await using var world = await RelayFixture.StartAsync(output, new Protocols.Relay.RelayServiceOptions { CircuitDataLimit = 0 });
        // The peer that dialed through the relay answers DCUtR; the reserved peer (reached through it) is the hostile one.
        var (hostile, _, reservation) = await world.NewReservedHostAsync();
        var answering = await world.NewHostAsync();
        await using var service = new HolePunchService(answering);
        service.Start();
        var relayed = await answering.DialAsync(reservation.CircuitAddresses[0]).AsTask().WaitAsync(Timeout);
        Assert.True(relayed.IsLimited);
        var inbound = await WaitForRelayedAsync(hostile, answering.PeerId);

        await using (var stream = await inbound.OpenStreamAsync(NatProtocols.HolePunch).AsTask().WaitAsync(Timeout))
        {
            await stream.WriteAsync(message, completeWrites: false).AsTask().WaitAsync(Timeout);
            var ended = await Record.ExceptionAsync(async () =>
            {
                var reply = await LengthPrefixed.ReadAsync(stream.Input, 8192).AsTask().WaitAsync(Timeout);
                Assert.Null(reply);
            });
            Assert.True(ended is null or IOException, $"the stream ended with {ended}");
        }

        byte[] payload = System.Security.Cryptography.RandomNumberGenerator.GetBytes(2000);
        Assert.Equal(payload, await EchoClient.EchoAsync(relayed, payload).WaitAsync(Timeout));
        Assert.False(relayed.Closed.IsCompleted, "a bad hole-punch message ends its stream, not the connection");
    }

    private static async Task<P2PConnection> WaitForRelayedAsync(P2PHost host, P2PNet.Peers.PeerId peer)
    {
        P2PConnection? found = null;
        await Conditions.WaitUntilAsync(() => (found = host.GetConnections(peer).FirstOrDefault(c => c.IsLimited)) is not null, Timeout,
            "the relayed connection on the reserved side");
        return found!;
    }
}
