using System.Security.Cryptography;
using Google.Protobuf;
using P2PNet.Host;
using P2PNet.IO;
using P2PNet.Peers;
using P2PNet.Protocols.Dht;
using P2PNet.Protocols.Dht.Protos;
using P2PNet.Testing;

namespace P2PNet.Core.Tests.Dht;

/// <summary>The Kademlia DHT in an in-process network of hosts that all bootstrap from host 0: lookups converge on the
/// true k closest peers, provider records are found from anywhere, and hostile requests are bounded.</summary>
public sealed class KadDhtTests
{
    private const int Nodes = 30;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task ALookup_ConvergesOnTheTrueClosestPeers()
    {
        await using var network = await DhtTestNetwork.StartAsync(Nodes);
        byte[] key = RandomNumberGenerator.GetBytes(32);
        var found = await network.Dhts[Nodes - 1].GetClosestPeersAsync(key).WaitAsync(Timeout);
        var truth = DhtTestNetwork.Closest(key, network.Group.Hosts.Take(Nodes - 1).Select(h => h.PeerId), 20);
        Assert.Equal(truth, found);
    }

    [Fact]
    public async Task AProvider_IsFoundFromAnotherNode_WithItsAddresses()
    {
        await using var network = await DhtTestNetwork.StartAsync(Nodes);
        byte[] key = RandomNumberGenerator.GetBytes(34);
        Assert.True(await network.Dhts[5].ProvideAsync(key).WaitAsync(Timeout) > 0);
        var providers = await network.Dhts[25].FindProvidersAsync(key).WaitAsync(Timeout);
        var provider = Assert.Single(providers);
        Assert.Equal(network.Group[5].PeerId, provider.Peer);
        Assert.Contains(network.Group[5].ListenAddresses[0].WithoutPeerId(), provider.Addresses);
        Assert.Empty(await network.Dhts[25].FindProvidersAsync(RandomNumberGenerator.GetBytes(34)).WaitAsync(Timeout));
    }

    [Fact]
    public async Task FindPeer_ReturnsTheAddressesOfAPeerNotConnectedToUs()
    {
        await using var network = await DhtTestNetwork.StartAsync(Nodes);
        var target = network.Group[17];
        var seeker = network.Group[Nodes - 1];
        await seeker.DisconnectAsync(target.PeerId);
        var addresses = await network.Dhts[Nodes - 1].FindPeerAsync(target.PeerId).WaitAsync(Timeout);
        Assert.Contains(target.ListenAddresses[0].WithoutPeerId(), addresses);
    }

    [Fact]
    public async Task DiallingAPeerIdNeverHeardOf_AsksTheDht_AndConnects()
    {
        await using var network = await DhtTestNetwork.StartAsync(20);
        var seeker = network.Group[19];
        var target = network.Group[10];
        await seeker.DisconnectAsync(target.PeerId).AsTask().WaitAsync(Timeout);
        seeker.PeerStore.Remove(target.PeerId);
        Assert.Same(network.Dhts[19], seeker.PeerRouting);

        var connection = await seeker.DialAsync(target.PeerId).AsTask().WaitAsync(Timeout);
        Assert.Equal(target.PeerId, connection.RemotePeer);
        Assert.Contains(target.ListenAddresses[0].WithoutPeerId(), seeker.PeerStore.Get(target.PeerId)!.Addresses);

        var nobody = P2PNet.Crypto.PrivateKey.GenerateEd25519().PublicKey.ToPeerId();
        var error = await Assert.ThrowsAsync<PeerNotFoundException>(async () => await seeker.DialAsync(nobody).AsTask().WaitAsync(Timeout));
        Assert.Equal(nobody, error.Peer);
    }

    [Fact]
    public async Task HostileRequests_AreBounded_AndTheNodeKeepsServing()
    {
        await using var network = await DhtTestNetwork.StartAsync(4);
        var server = network.Group[0];
        var client = network.Group[3];
        var connection = await client.DialAsync(server.PeerId).AsTask().WaitAsync(Timeout);

        // A 1 MiB length prefix: the stream is reset before a byte of the body is read.
        await using (var oversized = await connection.OpenStreamAsync("/ipfs/kad/1.0.0").AsTask().WaitAsync(Timeout))
        {
            await oversized.WriteAsync(new byte[] { 0x80, 0x80, 0x40, 1, 2, 3 }, completeWrites: false).AsTask().WaitAsync(Timeout);
            await Assert.ThrowsAnyAsync<Exception>(async () =>
                Assert.NotNull(await LengthPrefixed.ReadAsync(oversized.Input, 1 << 20).AsTask().WaitAsync(Timeout)));
        }

        // ADD_PROVIDER naming another peer: not recorded.
        byte[] key = RandomNumberGenerator.GetBytes(34);
        var forged = new PbKadMessage { Type = PbKadMessage.Types.MessageType.AddProvider, Key = ByteString.CopyFrom(key) };
        forged.ProviderPeers.Add(new PbKadMessage.Types.Peer { Id = ByteString.CopyFrom(network.Group[1].PeerId.Bytes) });
        await using (var stream = await connection.OpenStreamAsync("/ipfs/kad/1.0.0").AsTask().WaitAsync(Timeout))
        {
            await LengthPrefixed.WriteAsync(stream.Output, forged.ToByteArray()).AsTask().WaitAsync(Timeout);
            await stream.CompleteWritesAsync().AsTask().WaitAsync(Timeout);
        }

        // The server still answers, and has no provider for the key.
        var query = new PbKadMessage { Type = PbKadMessage.Types.MessageType.GetProviders, Key = ByteString.CopyFrom(key) };
        await using (var stream = await connection.OpenStreamAsync("/ipfs/kad/1.0.0").AsTask().WaitAsync(Timeout))
        {
            await LengthPrefixed.WriteAsync(stream.Output, query.ToByteArray()).AsTask().WaitAsync(Timeout);
            var reply = PbKadMessage.Parser.ParseFrom(await LengthPrefixed.ReadAsync(stream.Input, 1 << 20).AsTask().WaitAsync(Timeout));
            Assert.Equal(PbKadMessage.Types.MessageType.GetProviders, reply.Type);
            Assert.Empty(reply.ProviderPeers);
            Assert.InRange(reply.CloserPeers.Count, 1, 20);
        }
    }
}
