using Google.Protobuf;
using P2PNet.Host;
using P2PNet.IO;
using P2PNet.Peers;
using P2PNet.Protocols.Dht;
using P2PNet.Protocols.Dht.Protos;
using P2PNet.Testing;

namespace P2PNet.Core.Tests.Dht;

/// <summary>Hosts with a DHT each (options per index), every one connected to host 0 and bootstrapped; plus raw
/// requests on the wire for the hostile tests.</summary>
internal sealed class DhtTestNetwork : IAsyncDisposable
{
    public const string Protocol = "/ipfs/kad/1.0.0";
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private DhtTestNetwork(TestHostGroup group, KadDht[] dhts)
    {
        Group = group;
        Dhts = dhts;
    }

    public TestHostGroup Group { get; }

    public KadDht[] Dhts { get; }

    public static async Task<DhtTestNetwork> StartAsync(int count, Func<int, KadDhtOptions>? options = null, bool bootstrap = true)
    {
        // Every node on 127.0.0.1: lift the per-IP budgets a public node applies.
        var group = await TestHostGroup.StartAsync(count, (_, o) =>
        {
            o.Resources.MaxInboundConnectionsPerIp = 1024;
            o.Resources.MaxInboundHandshakesPerIp = 1024;
        });
        var dhts = group.Hosts.Select((h, i) => new KadDht(h, options?.Invoke(i) ?? new KadDhtOptions())).ToArray();
        var network = new DhtTestNetwork(group, dhts);
        try
        {
            foreach (var dht in dhts)
            {
                dht.Start();
            }
            foreach (var host in group.Hosts.Skip(1))
            {
                await host.DialAsync(group[0].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
            }
            await Conditions.WaitUntilAsync(() => dhts[0].RoutingTableSize >= Math.Min(count - 1, 20) && dhts.Skip(1).All(d => d.RoutingTableSize >= 1),
                Timeout, () => "every node has host 0 in its table, and host 0 has them: " + string.Join(", ", dhts.Select(d => d.RoutingTableSize)));
            if (bootstrap)
            {
                foreach (var dht in dhts.Skip(1))
                {
                    await dht.BootstrapAsync().WaitAsync(Timeout);
                }
            }
            return network;
        }
        catch
        {
            await network.DisposeAsync().AsTask().WaitAsync(Timeout);
            throw;
        }
    }

    /// <summary>The <paramref name="k"/> peers closest to <paramref name="key"/> by the DHT's metric (XOR of the SHA-256
    /// points), closest first: what a lookup should converge on.</summary>
    public static PeerId[] Closest(byte[] key, IEnumerable<PeerId> peers, int k)
    {
        byte[] target = System.Security.Cryptography.SHA256.HashData(key);
        byte[] Distance(PeerId peer)
        {
            byte[] point = System.Security.Cryptography.SHA256.HashData(peer.Bytes);
            for (int i = 0; i < point.Length; i++)
            {
                point[i] ^= target[i];
            }
            return point;
        }
        return [.. peers.OrderBy(Distance, Comparer<byte[]>.Create((a, b) => a.AsSpan().SequenceCompareTo(b))).Take(k)];
    }

    /// <summary>One raw request from <paramref name="from"/> to <paramref name="to"/>; the reply, or null when the
    /// stream ends without one (reset or closed).</summary>
    public static async Task<PbKadMessage?> RequestAsync(P2PHost from, PeerId to, PbKadMessage request)
    {
        await using var stream = await from.OpenStreamAsync(to, Protocol).AsTask().WaitAsync(Timeout);
        await LengthPrefixed.WriteAsync(stream.Output, request.ToByteArray()).AsTask().WaitAsync(Timeout);
        await stream.CompleteWritesAsync().AsTask().WaitAsync(Timeout);
        try
        {
            byte[]? bytes = await LengthPrefixed.ReadAsync(stream.Input, 1 << 20).AsTask().WaitAsync(Timeout);
            return bytes is null ? null : PbKadMessage.Parser.ParseFrom(bytes);
        }
        catch (Exception e) when (e is IOException or P2PNet.Muxing.StreamResetException)
        {
            return null;
        }
    }

    public static PbKadMessage Put(byte[] key, byte[] value) => new()
    {
        Type = PbKadMessage.Types.MessageType.PutValue,
        Key = ByteString.CopyFrom(key),
        Record = new PbKadRecord { Key = ByteString.CopyFrom(key), Value = ByteString.CopyFrom(value) },
    };

    public static PbKadMessage Get(byte[] key) => new() { Type = PbKadMessage.Types.MessageType.GetValue, Key = ByteString.CopyFrom(key) };

    public async ValueTask DisposeAsync()
    {
        foreach (var dht in Dhts)
        {
            await dht.DisposeAsync().AsTask().WaitAsync(Timeout);
        }
        await Group.DisposeAsync().AsTask().WaitAsync(Timeout);
    }
}
