using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using P2PNet.Peers;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.Dht;

/// <summary>A hundred in-process DHT nodes (real TCP, Noise, Yamux on 127.0.0.1): lookups from anywhere converge on the
/// true 20 closest peers in a few hops, and a provider record and a value record are still found after a fifth of the
/// network has left.</summary>
public sealed class DhtNetworkTests(ITestOutputHelper output)
{
    private const int Nodes = 100;
    private const int K = 20;
    private static readonly TimeSpan Timeout = DhtTestNetwork.Timeout;

    [Fact]
    public async Task HundredNodes_LookupsConvergeInFewHops_AndProvidersAndValuesAreFoundAfterChurn()
    {
        await using var network = await DhtTestNetwork.StartAsync(Nodes);
        using var hops = new HopRecorder([.. network.Group.Hosts.Select(h => h.Metrics.Meter)]);
        var random = new Random(20);
        var ids = network.Group.Hosts.Select(h => h.PeerId).ToArray();

        for (int i = 0; i < 10; i++)
        {
            int from = random.Next(Nodes);
            byte[] key = RandomNumberGenerator.GetBytes(32);
            var found = await network.Dhts[from].GetClosestPeersAsync(key).WaitAsync(Timeout);
            Assert.Equal(DhtTestNetwork.Closest(key, ids.Where(p => p != ids[from]), K).ToHashSet(), found.ToHashSet());
        }
        var lookupHops = hops.Take();
        output.WriteLine($"{Nodes} nodes, 10 lookups: hops {string.Join(" ", lookupHops)} (mean {lookupHops.Average():F1})");
        Assert.Equal(10, lookupHops.Count);
        Assert.All(lookupHops, h => Assert.InRange(h, 1, 7)); // log2(100) ≈ 6.6 referrals at the very most

        // A provider and a value record, announced to the 20 closest of their keys; then 20 other nodes leave.
        var provider = network.Group[10];
        byte[] content = RandomNumberGenerator.GetBytes(34);
        Assert.True(await network.Dhts[10].ProvideAsync(content).WaitAsync(Timeout) > 0);
        var owner = network.Group[11];
        byte[] pkKey = [.. "/pk/"u8, .. owner.PeerId.Bytes];
        Assert.True(await network.Dhts[11].PutValueAsync(pkKey, owner.PublicKey.ToProtobuf()).WaitAsync(Timeout) > 0);
        var leaving = Enumerable.Range(20, Nodes - 20).OrderBy(_ => random.Next()).Take(20).ToArray();
        foreach (int i in leaving)
        {
            await network.Dhts[i].DisposeAsync().AsTask().WaitAsync(Timeout);
            await network.Group[i].DisposeAsync().AsTask().WaitAsync(Timeout);
        }

        var seeker = network.Dhts[Enumerable.Range(20, Nodes - 20).Except(leaving).First()];
        var providers = await seeker.FindProvidersAsync(content).WaitAsync(Timeout);
        Assert.Equal(provider.PeerId, Assert.Single(providers).Peer);
        Assert.Equal(owner.PublicKey.ToProtobuf(), await seeker.GetValueAsync(pkKey).WaitAsync(Timeout));
        output.WriteLine($"after {leaving.Length} nodes left: provider and value found, hops {string.Join(" ", hops.Take())}");
    }

    /// <summary>The hops of every FIND_NODE lookup of these hosts (their meters only: other tests' hosts run beside),
    /// from the <c>p2pnet.dht.lookup.hops</c> histograms.</summary>
    private sealed class HopRecorder : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentQueue<int> _hops = new();

        public HopRecorder(HashSet<Meter> meters)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Name == "p2pnet.dht.lookup.hops" && meters.Contains(instrument.Meter))
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<int>((_, hops, tags, _) =>
            {
                foreach (var tag in tags)
                {
                    if (tag.Key == "type" && (string?)tag.Value == "find_node")
                    {
                        _hops.Enqueue(hops);
                    }
                }
            });
            _listener.Start();
        }

        public List<int> Take()
        {
            var taken = new List<int>();
            while (_hops.TryDequeue(out int hops))
            {
                taken.Add(hops);
            }
            return taken;
        }

        public void Dispose() => _listener.Dispose();
    }
}
