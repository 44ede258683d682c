using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.IO;
using P2PNet.Protocols.Dht;
using P2PNet.Protocols.Dht.Protos;
using P2PNet.Testing;

namespace P2PNet.Core.Tests.Dht;

/// <summary>Value records: PUT_VALUE / GET_VALUE between in-process nodes, validation by namespace, selection of the
/// best value and correction of outdated peers, and hostile puts and answers.</summary>
public sealed class DhtRecordTests
{
    private static readonly TimeSpan Timeout = DhtTestNetwork.Timeout;

    [Fact]
    public async Task APublicKeyRecord_PutByOneNode_IsFoundByAnother()
    {
        await using var network = await DhtTestNetwork.StartAsync(8);
        var owner = network.Group[3];
        byte[] key = PkKey(owner);
        Assert.True(await network.Dhts[2].PutValueAsync(key, owner.PublicKey.ToProtobuf()).WaitAsync(Timeout) > 0);
        byte[]? found = await network.Dhts[7].GetValueAsync(key).WaitAsync(Timeout);
        Assert.Equal(owner.PublicKey.ToProtobuf(), found);
        Assert.Null(await network.Dhts[7].GetValueAsync([.. "/pk/"u8, .. PrivateKey.GenerateEd25519().PublicKey.ToPeerId().Bytes]).WaitAsync(Timeout));
    }

    [Fact]
    public async Task GetValue_OfAPublicKeyKey_IsAnsweredFromTheKeysANodeKnows()
    {
        // Nobody put the record: host 0 answers with the key it learned from identify (spec, GET_VALUE on /pk/).
        await using var network = await DhtTestNetwork.StartAsync(3, bootstrap: false);
        var owner = network.Group[2];
        Assert.Equal(owner.PublicKey.ToProtobuf(), await network.Dhts[1].GetValueAsync(PkKey(owner)).WaitAsync(Timeout));
    }

    [Fact]
    public async Task PutValue_OfAnInvalidRecord_IsRefusedBeforeAnythingIsSent()
    {
        await using var network = await DhtTestNetwork.StartAsync(3);
        var dht = network.Dhts[1];
        // A /pk/ record holding another peer's key, a namespace nobody validates, a value above 10 KiB, no namespace.
        await Assert.ThrowsAsync<DhtRecordException>(() => dht.PutValueAsync(PkKey(network.Group[1]), network.Group[2].PublicKey.ToProtobuf()).WaitAsync(Timeout));
        await Assert.ThrowsAsync<DhtRecordException>(() => dht.PutValueAsync("/unknown/x"u8.ToArray(), [1]).WaitAsync(Timeout));
        await Assert.ThrowsAsync<DhtRecordException>(() => dht.PutValueAsync(TestKey("big"), new byte[10 * 1024 + 1]).WaitAsync(Timeout));
        await Assert.ThrowsAsync<DhtRecordException>(() => dht.PutValueAsync("no-namespace"u8.ToArray(), [1]).WaitAsync(Timeout));
        await Assert.ThrowsAsync<DhtRecordException>(() => dht.GetValueAsync("/unknown/x"u8.ToArray()).WaitAsync(Timeout));
        Assert.Null(await dht.GetValueAsync([.. "/pk/"u8, .. PrivateKey.GenerateEd25519().PublicKey.ToPeerId().Bytes]).WaitAsync(Timeout));
    }

    [Fact]
    public async Task HostilePuts_AreRefused_AndNotStored()
    {
        await using var network = await DhtTestNetwork.StartAsync(2, _ => WithTestNamespace());
        var client = network.Group[1];
        var server = network.Group[0].PeerId;
        byte[] stranger = [.. "/pk/"u8, .. PrivateKey.GenerateEd25519().PublicKey.ToPeerId().Bytes];
        var forged = DhtTestNetwork.Put(stranger, client.PublicKey.ToProtobuf());
        var unknown = DhtTestNetwork.Put("/unknown/x"u8.ToArray(), [1]);
        var oversized = DhtTestNetwork.Put(TestKey("big"), new byte[10 * 1024 + 1]);
        var mismatched = DhtTestNetwork.Put(TestKey("a"), [1]);
        mismatched.Record.Key = ByteString.CopyFrom(TestKey("b"));
        foreach (var put in new[] { forged, unknown, oversized, mismatched })
        {
            Assert.Null(await DhtTestNetwork.RequestAsync(client, server, put));
        }
        foreach (var key in new[] { stranger, "/unknown/x"u8.ToArray(), TestKey("big"), TestKey("a"), TestKey("b") })
        {
            var reply = await DhtTestNetwork.RequestAsync(client, server, DhtTestNetwork.Get(key));
            Assert.NotNull(reply);
            Assert.Null(reply.Record);
        }
        // A valid put is still taken and echoed.
        var valid = DhtTestNetwork.Put(TestKey("ok"), [7]);
        Assert.Equal(valid, await DhtTestNetwork.RequestAsync(client, server, valid));
        Assert.Equal([7], (await DhtTestNetwork.RequestAsync(client, server, DhtTestNetwork.Get(TestKey("ok"))))!.Record.Value.ToByteArray());
    }

    [Fact]
    public async Task AFloodOfPuts_IsBoundedByMaxRecords()
    {
        await using var network = await DhtTestNetwork.StartAsync(2, _ =>
        {
            var options = WithTestNamespace();
            options.MaxRecords = 8;
            return options;
        });
        var client = network.Group[1];
        var server = network.Group[0].PeerId;
        int accepted = 0;
        for (int i = 0; i < 40; i++)
        {
            if (await DhtTestNetwork.RequestAsync(client, server, DhtTestNetwork.Put(TestKey($"flood-{i}"), [1])) is not null)
            {
                accepted++;
            }
        }
        Assert.Equal(8, accepted);
        int stored = 0;
        for (int i = 0; i < 40; i++)
        {
            if ((await DhtTestNetwork.RequestAsync(client, server, DhtTestNetwork.Get(TestKey($"flood-{i}"))))?.Record is not null)
            {
                stored++;
            }
        }
        Assert.Equal(8, stored);
        // An existing key may still be updated when the store is full.
        Assert.NotNull(await DhtTestNetwork.RequestAsync(client, server, DhtTestNetwork.Put(TestKey("flood-0"), [2])));
    }

    [Fact]
    public async Task GetValue_SelectsTheBestValue_AndCorrectsPeersThatReturnedAnOutdatedOne()
    {
        await using var network = await DhtTestNetwork.StartAsync(8, _ => WithTestNamespace());
        byte[] key = TestKey("versioned");
        Assert.True(await network.Dhts[1].PutValueAsync(key, [1]).WaitAsync(Timeout) > 1);
        // Find who holds version 1, and give one of them version 2 directly.
        var holders = new List<P2PHost>();
        foreach (var host in network.Group.Hosts.Skip(2))
        {
            if ((await DhtTestNetwork.RequestAsync(network.Group[1], host.PeerId, DhtTestNetwork.Get(key)))?.Record is not null)
            {
                holders.Add(host);
            }
        }
        Assert.True(holders.Count >= 2, $"{holders.Count} holders");
        Assert.NotNull(await DhtTestNetwork.RequestAsync(network.Group[1], holders[0].PeerId, DhtTestNetwork.Put(key, [2])));
        // An older version is refused by a node holding a newer one.
        Assert.Null(await DhtTestNetwork.RequestAsync(network.Group[1], holders[0].PeerId, DhtTestNetwork.Put(key, [1])));

        Assert.Equal([2], await network.Dhts[1].GetValueAsync(key).WaitAsync(Timeout));
        foreach (var holder in holders)
        {
            var reply = await DhtTestNetwork.RequestAsync(network.Group[1], holder.PeerId, DhtTestNetwork.Get(key));
            Assert.Equal([2], reply!.Record.Value.ToByteArray());
        }
    }

    [Fact]
    public async Task BogusCloserPeersAndRecordsInGetValueAnswers_AreIgnored()
    {
        await using var network = await DhtTestNetwork.StartAsync(4, _ => WithTestNamespace(), bootstrap: false);
        var evil = network.Group[2];
        byte[] key = TestKey("target");
        // Host 2 stops serving the DHT honestly: every answer carries 20 garbage peers, 20 unreachable ones and a forged record.
        await network.Dhts[2].DisposeAsync().AsTask().WaitAsync(Timeout);
        evil.SetStreamHandler(DhtTestNetwork.Protocol, async (stream, ct) =>
        {
            await using (stream)
            {
                byte[]? bytes = await LengthPrefixed.ReadAsync(stream.Input, 1 << 16, ct);
                if (bytes is null)
                {
                    return;
                }
                var request = PbKadMessage.Parser.ParseFrom(bytes);
                var reply = new PbKadMessage { Type = request.Type, Key = request.Key };
                for (int i = 0; i < 20; i++)
                {
                    reply.CloserPeers.Add(new PbKadMessage.Types.Peer { Id = ByteString.CopyFrom(RandomNumberGenerator.GetBytes(34)) });
                    var unreachable = PrivateKey.GenerateEd25519().PublicKey.ToPeerId();
                    reply.CloserPeers.Add(new PbKadMessage.Types.Peer
                    {
                        Id = ByteString.CopyFrom(unreachable.Bytes),
                        Addrs = { ByteString.CopyFrom(P2PNet.Multiformats.Multiaddr.Parse("/ip4/127.0.0.1/tcp/1").ToBytes()) },
                    });
                }
                if (request.Type == PbKadMessage.Types.MessageType.GetValue)
                {
                    reply.Record = new PbKadRecord { Key = ByteString.CopyFrom(TestKey("another")), Value = ByteString.CopyFrom([9]) };
                }
                await LengthPrefixed.WriteAsync(stream.Output, reply.ToByteArray(), ct);
            }
        });
        Assert.True(await network.Dhts[3].PutValueAsync(key, [3]).WaitAsync(Timeout) > 0);
        Assert.Equal([3], await network.Dhts[1].GetValueAsync(key).WaitAsync(Timeout));
        // Only real DHT peers answered: the table holds at most the 4 hosts.
        Assert.InRange(network.Dhts[1].RoutingTableSize, 1, 3);
    }

    private static byte[] PkKey(P2PHost host) => [.. "/pk/"u8, .. host.PeerId.Bytes];

    private static byte[] TestKey(string name) => Encoding.ASCII.GetBytes("/test/" + name);

    private static KadDhtOptions WithTestNamespace()
    {
        var options = new KadDhtOptions();
        options.Validators["test"] = new HighestFirstByteValidator();
        return options;
    }

    /// <summary>The "test" namespace: any value; the best is the one with the highest first byte (a version number).</summary>
    private sealed class HighestFirstByteValidator : IDhtRecordValidator
    {
        public void Validate(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
        {
        }

        public int Select(ReadOnlySpan<byte> key, IReadOnlyList<byte[]> values)
        {
            int best = 0;
            for (int i = 1; i < values.Count; i++)
            {
                if (values[i].FirstOrDefault() > values[best].FirstOrDefault())
                {
                    best = i;
                }
            }
            return best;
        }
    }
}
