using System.Diagnostics;
using System.Net;
using P2PNet.Proxy.UdpBridge;

namespace P2PNet.Bench.Bridge;

/// <summary>
/// `serve` mode: a bridge in its own process, so its memory and CPU are measured apart from the load generator.
/// Prints "BRIDGE url", then answers "stats" on stdin with "STATS gcHeapBytes workingSetBytes" and "alloc" with
/// "ALLOC allocatedBytes gen0Collections" until "quit".
/// </summary>
internal static class BridgeHost
{
    public static async Task<int> RunAsync(string[] args)
    {
        int maxClients = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 20_000;
        await using var server = new UdpBridgeServer(new IPEndPoint(IPAddress.Loopback, 0), options =>
        {
            options.AllowedNetworks.Add(IPNetwork.Parse("127.0.0.0/8"));
            options.MaxClients = maxClients;
            options.MaxDatagramsPerSecond = 0;
            options.MaxBytesPerSecond = 0;
        });
        await server.StartAsync();
        Console.WriteLine($"BRIDGE {server.Url}");

        while (Console.ReadLine() is { } command)
        {
            if (command == "stats")
            {
                // Full collections so the heap figure is live objects, not garbage awaiting collection; the aggressive
                // one also returns free GC memory to the system, so the working set is what the live objects need.
                GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
                GC.WaitForPendingFinalizers();
                GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                using var self = Process.GetCurrentProcess();
                Console.WriteLine($"STATS {GC.GetTotalMemory(forceFullCollection: false)} {self.WorkingSet64}");
            }
            else if (command == "alloc")
            {
                // Bytes allocated so far by all threads: the throughput run divides the growth by the datagrams relayed.
                Console.WriteLine($"ALLOC {GC.GetTotalAllocatedBytes(precise: false)} {GC.CollectionCount(0)}");
            }
            else if (command == "quit")
            {
                break;
            }
        }

        await server.StopAsync();
        return 0;
    }
}
