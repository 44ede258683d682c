using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using P2PNet.Protocols.PubSub;
using P2PNet.Protocols.PubSub.Protos;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.PubSub;

/// <summary>
/// 100 in-process nodes on a sparse random topology (a ring plus random links), scoring on, fast heartbeat: every
/// message reaches every subscriber, and a peer spamming invalid messages is pruned and scored out by its neighbours (graylisted while its score
/// is below the graylist threshold, so its later spam is not even counted; the single-node test asserts the graylist).
/// </summary>
public sealed class GossipSubNetworkTests(ITestOutputHelper output)
{
    private const int Nodes = 100;
    private const int Messages = 20;
    private static readonly TimeSpan Timeout = GossipTestNetwork.Timeout;

    [Fact]
    public async Task HundredNodes_DeliverEveryMessageToEverySubscriber_AndPruneASpammer()
    {
        var setup = Stopwatch.StartNew();
        await using var network = await GossipTestNetwork.StartAsync(Nodes, () =>
        {
            var options = GossipTestNetwork.FastOptions();
            options.HeartbeatInterval = TimeSpan.FromMilliseconds(300);
            return options;
        });
        var hosts = network.Hosts.Hosts;
        var random = new Random(20);
        var links = new HashSet<(int, int)>();
        for (int i = 0; i < Nodes; i++)
        {
            links.Add((i, (i + 1) % Nodes));
            for (int k = 0; k < 2; k++)
            {
                int j = random.Next(Nodes);
                if (j != i && !links.Contains((j, i)))
                {
                    links.Add((i, j));
                }
            }
        }
        foreach (var batch in links.Chunk(16))
        {
            await Task.WhenAll(batch.Select(l => hosts[l.Item1].DialAsync(hosts[l.Item2].ListenAddresses[0].WithPeerId(hosts[l.Item2].PeerId)).AsTask())).WaitAsync(Timeout);
        }
        var received = new ConcurrentDictionary<(int Node, string Text), long>();
        var readers = new List<(PubSubSubscription Subscription, Task Reader)>();
        for (int i = 0; i < Nodes; i++)
        {
            int node = i;
            network.Routers[i].SetValidator("jobs", m => m.Data.Span.StartsWith("job "u8) ? ValidationResult.Accept : ValidationResult.Reject);
            var subscription = await network.Routers[i].SubscribeAsync("jobs").AsTask().WaitAsync(Timeout);
            readers.Add((subscription, Task.Run(async () =>
            {
                await foreach (var message in subscription)
                {
                    received.TryAdd((node, Encoding.UTF8.GetString(message.Data.Span)), Stopwatch.GetTimestamp());
                }
            })));
        }
        await GossipTestNetwork.WaitUntilAsync(() => network.Routers.All(r => r.GetMeshPeers("jobs").Count >= 2), "every mesh to form");
        output.WriteLine($"{Nodes} nodes, {links.Count} links, meshes formed after {setup.Elapsed.TotalSeconds:F1} s");

        // The spammer: connected to five nodes, grafted into their meshes, then sending messages their validators reject.
        int[] victims = [0, 20, 40, 60, 80];
        var spammers = new List<RawPubSubPeer>();
        foreach (int v in victims)
        {
            var spammer = await RawPubSubPeer.ConnectAsync(hosts[v]);
            spammers.Add(spammer);
            await spammer.SendAsync(new PbRpc
            {
                Subscriptions = { RawPubSubPeer.Subscribe("jobs").Subscriptions },
                Control = new PbControlMessage { Graft = { new PbControlGraft { TopicID = "jobs" } } },
            });
        }
        try
        {
            var published = new Dictionary<string, long>();
            for (int m = 0; m < Messages; m++)
            {
                string text = $"job {m}";
                published[text] = Stopwatch.GetTimestamp();
                await network.Routers[random.Next(Nodes)].PublishAsync("jobs", Encoding.UTF8.GetBytes(text)).AsTask().WaitAsync(Timeout);
                foreach (var spammer in spammers)
                {
                    await spammer.SendAsync(new PbRpc { Publish = { spammer.Message("jobs", $"spam {m}") } });
                }
            }
            try
            {
                await GossipTestNetwork.WaitUntilAsync(() => received.Count >= Nodes * Messages - Messages, "every message at every subscriber");
            }
            catch (TimeoutException)
            {
                output.WriteLine($"{received.Count} of {Nodes * Messages - Messages} deliveries; per message: "
                    + string.Join(", ", published.Keys.Select(t => $"{t}={received.Keys.Count(k => k.Text == t)}")));
                output.WriteLine("mesh sizes: " + string.Join(" ", network.Routers.Select(r => r.GetMeshPeers("jobs").Count)));
                output.WriteLine("peers: " + string.Join(" ", network.Routers.Select(r => r.Peers.Count)));
                throw;
            }
            Assert.DoesNotContain(received.Keys, k => k.Text.StartsWith("spam", StringComparison.Ordinal));
            foreach (var text in published.Keys)
            {
                // Each message reaches every node but (at most) its publisher.
                Assert.InRange(received.Keys.Count(k => k.Text == text), Nodes - 1, Nodes);
            }
            var latencies = received.Select(r => Stopwatch.GetElapsedTime(published[r.Key.Text], r.Value).TotalMilliseconds).Order().ToArray();
            var span = Stopwatch.GetElapsedTime(published.Values.Min(), received.Values.Max());
            output.WriteLine($"{published.Count} messages, {received.Count} deliveries in {span.TotalSeconds:F2} s: {published.Count / span.TotalSeconds:F1} messages/s, {received.Count / span.TotalSeconds:F0} deliveries/s");
            output.WriteLine($"delivery latency p50 {latencies[latencies.Length / 2]:F1} ms, p99 {latencies[(int)(latencies.Length * 0.99)]:F1} ms over {latencies.Length} deliveries");

            output.WriteLine(string.Join("; ", victims.Select((v, i) => $"node {v}: spammer score {network.Routers[v].GetScore(spammers[i].PeerId):F1}, in mesh {network.Routers[v].GetMeshPeers("jobs").Contains(spammers[i].PeerId)}, known {network.Routers[v].Peers.Contains(spammers[i].PeerId)}")));
            await GossipTestNetwork.WaitUntilAsync(() => victims.Select((v, i) => (v, i)).All(x =>
                !network.Routers[x.v].GetMeshPeers("jobs").Contains(spammers[x.i].PeerId)
                && network.Routers[x.v].GetScore(spammers[x.i].PeerId) < new PeerScoreThresholds().GossipThreshold), "the spammer to be pruned and scored below the gossip threshold by every victim");
        }
        finally
        {
            foreach (var spammer in spammers)
            {
                await spammer.DisposeAsync();
            }
            foreach (var (subscription, reader) in readers)
            {
                await subscription.DisposeAsync();
                await reader.WaitAsync(Timeout);
            }
        }
    }
}
