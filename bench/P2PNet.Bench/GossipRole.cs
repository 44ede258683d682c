using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Protocols.PubSub;

namespace P2PNet.Bench;

/// <summary>
/// `gossip --nodes N [--rate R] [--seconds S]`: an in-process gossipsub network of N hosts on 127.0.0.1 (real TCP,
/// Noise, Yamux; default router options: D 6, heartbeat 1 s, scoring on, strict signing), each linked to the next in a
/// ring and to two random others, all subscribed to one topic. Once every mesh has formed, random nodes publish R
/// messages a second for S seconds. Prints one Markdown row: delivery latency p50/p99 (publish to each subscriber),
/// deliveries that arrived, the sustained rate, mesh peers per node and the managed heap the routers hold per mesh peer
/// and per connected gossip peer (before and after disposing every router, the hosts still up: an upper bound).
/// </summary>
internal static class GossipRole
{
    private const string Topic = "bench";

    public static async Task<int> RunAsync(Args args)
    {
        int count = (int)args.GetLong("nodes", 100);
        double rate = args.GetLong("rate", 20);
        int seconds = (int)args.GetLong("seconds", 10);
        var random = new Random((int)args.GetLong("seed", 1));
        var hosts = new List<P2PHost>(count);
        var routers = new List<GossipSubRouter>(count);
        var readers = new List<Task>();
        try
        {
            for (int i = 0; i < count; i++)
            {
                var host = Roles.CreateHost(args);
                hosts.Add(host);
                await host.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
                var router = new GossipSubRouter(host);
                routers.Add(router);
                await router.StartAsync();
            }
            var links = new HashSet<(int, int)>();
            for (int i = 0; i < count; i++)
            {
                links.Add((i, (i + 1) % count));
                for (int k = 0; k < 2; k++)
                {
                    int j = random.Next(count);
                    if (j != i && !links.Contains((j, i)))
                    {
                        links.Add((i, j));
                    }
                }
            }
            foreach (var batch in links.Chunk(16))
            {
                await Task.WhenAll(batch.Select(l => hosts[l.Item1].DialAsync(hosts[l.Item2].ListenAddresses[0]).AsTask()));
            }

            var published = new ConcurrentDictionary<int, long>();
            var delivered = new ConcurrentDictionary<(int Node, int Message), long>();
            for (int i = 0; i < count; i++)
            {
                int node = i;
                var subscription = await routers[i].SubscribeAsync(Topic);
                readers.Add(Task.Run(async () =>
                {
                    await foreach (var message in subscription)
                    {
                        long now = Stopwatch.GetTimestamp();
                        if (int.TryParse(Encoding.ASCII.GetString(message.Data.Span), CultureInfo.InvariantCulture, out int id))
                        {
                            delivered.TryAdd((node, id), now);
                        }
                    }
                }));
            }
            var formed = Stopwatch.StartNew();
            while (routers.Any(r => r.GetMeshPeers(Topic).Count < 2) && formed.Elapsed < TimeSpan.FromSeconds(60))
            {
                await Task.Delay(100);
            }
            await Task.Delay(TimeSpan.FromSeconds(2)); // a couple of heartbeats more: meshes at their D

            int messages = (int)(rate * seconds);
            var publishing = Stopwatch.StartNew();
            long first = Stopwatch.GetTimestamp();
            for (int m = 0; m < messages; m++)
            {
                var due = TimeSpan.FromSeconds(m / rate) - publishing.Elapsed;
                if (due > TimeSpan.Zero)
                {
                    await Task.Delay(due);
                }
                published[m] = Stopwatch.GetTimestamp();
                int from = random.Next(count);
                await routers[from].PublishAsync(Topic, Encoding.ASCII.GetBytes(m.ToString(CultureInfo.InvariantCulture)));
            }
            long expected = (long)messages * (count - 1);
            var drain = Stopwatch.StartNew();
            while (delivered.Count < expected && drain.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(50);
            }
            var latencies = delivered.Select(d => Stopwatch.GetElapsedTime(published[d.Key.Message], d.Value).TotalMilliseconds).Order().ToList();
            double span = Stopwatch.GetElapsedTime(first, delivered.Values.DefaultIfEmpty(first).Max()).TotalSeconds;
            double meshPeers = routers.Average(r => r.GetMeshPeers(Topic).Count);
            long totalMesh = routers.Sum(r => (long)r.GetMeshPeers(Topic).Count);
            long totalPeers = routers.Sum(r => (long)r.Peers.Count);

            long heap = ProcessStats.HeapAfterFullCollection();
            foreach (var router in routers)
            {
                await router.DisposeAsync();
            }
            routers.Clear();
            await Task.WhenAll(readers); // the subscriptions end with their routers
            readers.Clear();
            long heapWithoutRouters = ProcessStats.HeapAfterFullCollection();
            double held = heap - heapWithoutRouters;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {count:N0} | {rate:F0}/s × {seconds} s | {Stats.Percentile(latencies, 50):F1} | {Stats.Percentile(latencies, 99):F1} | "
                + $"{delivered.Count:N0} of {expected:N0} | {delivered.Count / Math.Max(span, 1e-3):F0} deliveries/s ({messages / Math.Max(span, 1e-3):F1} messages/s) | "
                + $"{meshPeers:F1} | {held / Math.Max(1, totalMesh):F0} | {held / Math.Max(1, totalPeers):F0} |"));
            return 0;
        }
        finally
        {
            foreach (var router in routers)
            {
                await router.DisposeAsync();
            }
            foreach (var host in hosts)
            {
                await host.DisposeAsync();
            }
        }
    }
}
