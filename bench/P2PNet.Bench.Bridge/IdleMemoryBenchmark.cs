namespace P2PNet.Bench.Bridge;

/// <summary>
/// Memory per idle client: N websocket clients connect (each getting its UDP socket) and stay silent; the bridge
/// processes' managed heap and working set are compared before and after.
/// </summary>
/// <remarks>
/// A bridge process holds two descriptors per client (TCP and UDP). When the descriptor limit cannot hold N clients in
/// one process, the clients are spread over several bridge processes ("shards") and the figures summed.
/// </remarks>
internal static class IdleMemoryBenchmark
{
    public sealed record Result(int Clients, int Shards, double HeapBytesPerClient, double WorkingSetBytesPerClient, TimeSpan ConnectTime);

    public static async Task<Result> RunAsync(int clients, long descriptorLimit)
    {
        int perShard = (int)Math.Max(1, (descriptorLimit - 1000) / 2);
        int shards = (clients + perShard - 1) / perShard;
        var bridges = new List<BridgeProcess>();
        var connections = new List<RawWebSocketClient>(clients);
        try
        {
            for (int s = 0; s < shards; s++)
            {
                bridges.Add(await BridgeProcess.StartAsync(maxClients: perShard));
            }

            var before = new List<(long GcHeap, long WorkingSet)>();
            foreach (BridgeProcess bridge in bridges)
            {
                before.Add(await bridge.StatsAsync());
            }

            var clock = System.Diagnostics.Stopwatch.StartNew();
            using var gate = new SemaphoreSlim(64);
            var connects = new Task<RawWebSocketClient>[clients];
            for (int i = 0; i < clients; i++)
            {
                Uri url = bridges[i % shards].Url;
                await gate.WaitAsync();
                connects[i] = ConnectAsync(url, gate);
            }

            connections.AddRange(await Task.WhenAll(connects).WaitAsync(TimeSpan.FromMinutes(5)));
            TimeSpan connectTime = clock.Elapsed;

            // Let the bridges settle (keep-alive timers armed, pools trimmed) before measuring.
            await Task.Delay(TimeSpan.FromSeconds(3));
            long heap = 0, workingSet = 0;
            for (int s = 0; s < shards; s++)
            {
                (long gcHeap, long ws) = await bridges[s].StatsAsync();
                heap += gcHeap - before[s].GcHeap;
                workingSet += ws - before[s].WorkingSet;
            }

            return new Result(clients, shards, (double)heap / clients, (double)workingSet / clients, connectTime);
        }
        finally
        {
            foreach (RawWebSocketClient connection in connections)
            {
                connection.Dispose();
            }

            foreach (BridgeProcess bridge in bridges)
            {
                await bridge.DisposeAsync();
            }
        }
    }

    private static async Task<RawWebSocketClient> ConnectAsync(Uri url, SemaphoreSlim gate)
    {
        try
        {
            // An idle client reads nothing after the greeting: a small receive buffer keeps the generator light.
            return await RawWebSocketClient.ConnectAsync(url, 512, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
        }
        finally
        {
            gate.Release();
        }
    }
}
