using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Security.Cryptography;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Protocols.Dht;
using P2PNet.Protocols.Dht.Internal;

namespace P2PNet.Bench;

/// <summary>
/// `dht --nodes N [--lookups M] [--seed S] [--idle-ms T]`: an in-process Kademlia network of N hosts on 127.0.0.1 (real TCP, Noise,
/// Yamux), each joining through up to three random earlier nodes and bootstrapping, then M lookups of random keys from
/// random nodes. Prints one Markdown row: lookup latency p50/p99, hops (referrals to the closest peer, from the hosts'
/// <c>p2pnet.dht.lookup.hops</c> histograms), the share of the true 20 closest peers each lookup returned,
/// routing-table entries per node, the managed heap a routing table holds per entry (measured apart), and the process's managed heap and RSS per node.
/// </summary>
internal static class DhtRole
{
    private const int K = 20;

    public static async Task<int> RunAsync(Args args)
    {
        int count = (int)args.GetLong("nodes", 100);
        int lookups = (int)args.GetLong("lookups", 50);
        var random = new Random((int)args.GetLong("seed", 1));
        // Connections idle this long close, as on a public DHT node that cannot hold one to every peer it has met: a
        // 1,000-node network would otherwise need ~40,000 descriptors in this one process. Lookups then dial afresh.
        var idle = TimeSpan.FromMilliseconds(args.GetLong("idle-ms", 2000));
        var hosts = new List<P2PHost>(count);
        var dhts = new List<KadDht>(count);
        double entryBytes = RoutingTableEntryBytes();
        var clock = Stopwatch.StartNew();
        try
        {
            for (int i = 0; i < count; i++)
            {
                var host = Roles.CreateHost(args, idle);
                hosts.Add(host);
                await host.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
                var dht = new KadDht(host);
                dhts.Add(dht);
                dht.Start();
                if (i == 0)
                {
                    continue;
                }
                int dialled = 0;
                foreach (int j in Enumerable.Range(0, i).OrderBy(_ => random.Next()))
                {
                    try
                    {
                        await host.DialAsync(hosts[j].ListenAddresses[0]).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
                        if (++dialled == 3)
                        {
                            break;
                        }
                    }
                    catch (Exception e) when (e is IOException or TimeoutException or System.Net.Sockets.SocketException)
                    {
                        Console.Error.WriteLine($"node {i}: dialling node {j} failed ({e.Message}); trying another");
                    }
                }
                // Peers join the table once identify lists the protocol; bootstrap after the first one has.
                var wait = Stopwatch.StartNew();
                while (dht.RoutingTableSize == 0 && wait.Elapsed < TimeSpan.FromSeconds(10))
                {
                    await Task.Delay(5);
                }
                await dht.BootstrapAsync().WaitAsync(TimeSpan.FromSeconds(60));
                if (i % 100 == 0)
                {
                    Console.Error.WriteLine($"[{clock.Elapsed.TotalSeconds:F0} s] {i} nodes up");
                }
            }
            double setup = clock.Elapsed.TotalSeconds;
            var hops = new ConcurrentQueue<int>();
            using var listener = new MeterListener();
            listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Name == "p2pnet.dht.lookup.hops")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            };
            listener.SetMeasurementEventCallback<int>((_, value, _, _) => hops.Enqueue(value));
            listener.Start();
            var ids = hosts.Select(h => h.PeerId).ToArray();
            var latencies = new List<double>();
            double found = 0;
            for (int n = 0; n < lookups; n++)
            {
                int from = random.Next(count);
                byte[] key = RandomNumberGenerator.GetBytes(32);
                var started = Stopwatch.GetTimestamp();
                var closest = await dhts[from].GetClosestPeersAsync(key).WaitAsync(TimeSpan.FromSeconds(60));
                latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                var truth = TrueClosest(key, ids.Where(p => p != ids[from]), Math.Min(K, count - 1));
                found += truth.Count == 0 ? 1 : (double)closest.Count(truth.Contains) / truth.Count;
            }
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            listener.Dispose();
            var hopList = hops.ToList();
            long heap = GC.GetTotalMemory(forceFullCollection: true);
            long rss = Environment.WorkingSet;
            double entries = dhts.Average(d => d.RoutingTableSize);

            latencies.Sort();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {count:N0} | {lookups} | {Stats.Percentile(latencies, 50):F1} | {Stats.Percentile(latencies, 99):F1} | "
                + $"{(hopList.Count == 0 ? double.NaN : hopList.Average()):F1} / {(hopList.Count == 0 ? 0 : hopList.Max())} | "
                + $"{100 * found / lookups:F1} % | {entries:F1} | {entryBytes:F0} | "
                + $"{heap / 1024.0 / count:F0} | {rss / 1024.0 / count:F0} | {setup:F0} s |"));
            return 0;
        }
        finally
        {
            foreach (var dht in dhts)
            {
                await dht.DisposeAsync();
            }
            foreach (var host in hosts)
            {
                await host.DisposeAsync();
            }
        }
    }

    /// <summary>The managed heap a routing table holds per entry (its buckets and replacement caches, k = 20), measured
    /// before any host exists so nothing else allocates: 5,000 random peers offered to an empty table. The peer ids
    /// themselves are not counted (the peer store holds them anyway).</summary>
    private static double RoutingTableEntryBytes()
    {
        var peers = Enumerable.Range(0, 5_000).Select(_ => PrivateKey.GenerateEd25519().PublicKey.ToPeerId()).ToArray();
        var self = PrivateKey.GenerateEd25519().PublicKey.ToPeerId();
        long before = ProcessStats.HeapAfterFullCollection();
        var table = new RoutingTable(self, K, replacementCacheSize: K);
        foreach (var peer in peers)
        {
            table.TryAdd(peer);
        }
        long after = ProcessStats.HeapAfterFullCollection();
        double perEntry = (double)(after - before) / (table.Count + table.ReplacementCount);
        GC.KeepAlive(table);
        return perEntry;
    }

    private static HashSet<PeerId> TrueClosest(byte[] key, IEnumerable<PeerId> peers, int k)
    {
        byte[] target = SHA256.HashData(key);
        return [.. peers.OrderBy(p => Distance(target, p), Comparer<byte[]>.Create((a, b) => a.AsSpan().SequenceCompareTo(b))).Take(k)];
    }

    private static byte[] Distance(byte[] target, PeerId peer)
    {
        byte[] point = SHA256.HashData(peer.Bytes);
        for (int i = 0; i < point.Length; i++)
        {
            point[i] ^= target[i];
        }
        return point;
    }
}
