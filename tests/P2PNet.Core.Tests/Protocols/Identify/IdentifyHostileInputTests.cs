using System.Buffers;
using System.Net;
using Google.Protobuf;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.IO;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Protocols.Identify;
using P2PNet.Protocols.Identify.Protos;
using P2PNet.Protocols.Ping;
using P2PNet.Testing;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.Identify;

/// <summary>
/// Identify pushes from a hostile peer (above Noise and Yamux, so the bytes are the peer's own): floods, garbage,
/// oversized messages and a public key that is not the peer's. The host stores a bounded, correct record and keeps serving.
/// </summary>
public sealed class IdentifyHostileInputTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private async Task<(TestHostGroup Hosts, P2PConnection Connection)> ConnectAsync()
    {
        var hosts = await TestHostGroup.StartAsync(2, null, XunitLoggerProvider.CreateFactory(output)).WaitAsync(Timeout);
        var connection = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        return (hosts, connection);
    }

    /// <summary>Sends raw bytes on an identify push stream and waits until the receiver has handled them (it closes the stream).</summary>
    private static async Task PushRawAsync(P2PConnection connection, byte[] bytes)
    {
        var stream = await connection.OpenStreamAsync(IdentifyService.PushId).AsTask().WaitAsync(Timeout);
        await using (stream)
        {
            try
            {
                await stream.WriteAsync(bytes).AsTask().WaitAsync(Timeout);
                await stream.CompleteWritesAsync().AsTask().WaitAsync(Timeout);
                var buffer = new byte[64];
                while (await stream.ReadAsync(buffer).AsTask().WaitAsync(Timeout) > 0)
                {
                }
            }
            catch (IOException)
            {
                // the receiver reset the stream: it has handled (refused) the push
            }
        }
    }

    private static byte[] Framed(PbIdentify message)
    {
        var body = message.ToByteArray();
        var output = new ArrayBufferWriter<byte>();
        Varint.Write(output, (ulong)body.Length);
        output.Write(body);
        return output.WrittenSpan.ToArray();
    }

    private static Multiaddr FloodAddress(int i) => Multiaddr.FromTcpEndPoint(new IPEndPoint(new IPAddress([10, (byte)(i >> 16), (byte)(i >> 8), (byte)i]), 4001));

    private static async Task AssertStillServesAsync(P2PConnection connection)
    {
        await foreach (var _ in PingProtocol.PingAsync(connection, 1).WithCancellation(new CancellationTokenSource(Timeout).Token))
        {
        }
    }

    [Fact]
    public async Task Push_WithThousandsOfAddresses_StoresAtMostTheBoundedCount()
    {
        var (hosts, connection) = await ConnectAsync();
        await using (hosts)
        {
            var flood = new PbIdentify();
            flood.ListenAddrs.AddRange(Enumerable.Range(0, 5000).Select(i => ByteString.CopyFrom(FloodAddress(i).ToBytes())));
            Assert.True(flood.CalculateSize() < hosts[1].Options.MaxIdentifyMessageSize);

            await PushRawAsync(connection, Framed(flood));

            var record = hosts[1].PeerStore.Get(hosts[0].PeerId);
            Assert.NotNull(record);
            Assert.Contains(FloodAddress(0), record.Addresses);
            Assert.InRange(record.Addresses.Count, 1, P2PNet.Peers.PeerStore.MaxAddressesPerPeer);
            await AssertStillServesAsync(connection);
        }
    }

    [Fact]
    public async Task Push_WithSomeoneElsesPublicKey_IsIgnored()
    {
        var (hosts, connection) = await ConnectAsync();
        await using (hosts)
        {
            using var stranger = PrivateKey.GenerateEd25519();
            var forged = new PbIdentify { PublicKey = ByteString.CopyFrom(stranger.PublicKey.ToProtobuf()) };
            forged.ListenAddrs.Add(ByteString.CopyFrom(FloodAddress(7).ToBytes()));

            await PushRawAsync(connection, Framed(forged));

            var record = hosts[1].PeerStore.Get(hosts[0].PeerId);
            Assert.True(record is null || (!record.Addresses.Contains(FloodAddress(7)) && !Equals(record.PublicKey, stranger.PublicKey)));
            await AssertStillServesAsync(connection);
        }
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("oversized")]
    [InlineData("length-past-end")]
    public async Task Push_Malformed_ChangesNothingAndTheConnectionKeepsServing(string kind)
    {
        var (hosts, connection) = await ConnectAsync();
        await using (hosts)
        {
            byte[] bytes = kind switch
            {
                "garbage" => [0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06],
                "oversized" => Framed(new PbIdentify { AgentVersion = new string('a', hosts[1].Options.MaxIdentifyMessageSize + 1) }),
                _ => [0x80, 0x80, 0x04, 0x0a, 0x01], // declares 64 KiB, sends 2 bytes
            };

            await PushRawAsync(connection, bytes);

            // The host's own identify exchange may land at any time; the malformed push must add nothing of its own.
            var after = hosts[1].PeerStore.Get(hosts[0].PeerId);
            Assert.False(after?.AgentVersion?.StartsWith("aaaa", StringComparison.Ordinal) ?? false, "the oversized push was applied");
            Assert.All(after?.Addresses ?? [], a => Assert.Equal(hosts[0].ListenAddresses[0].WithoutPeerId(), a.WithoutPeerId()));
            await AssertStillServesAsync(connection);
        }
    }
}
