using System.Diagnostics;

namespace P2PNet.Bench.Bridge;

/// <summary>
/// Datagrams relayed per second, both directions together: clients keep a window of small datagrams in flight to
/// UDP echo servers through the bridge; every echo received is two relayed datagrams (to UDP and back).
/// </summary>
internal static class ThroughputBenchmark
{
    public sealed record Result(
        int Clients, int Window, int PayloadBytes, double Seconds, long Echoes, double RelayedPerSecond, double BridgeCpuCores, double LoadCpuCores,
        double AllocatedBytesPerDatagram, int Gen0Collections);

    public static async Task<Result> RunAsync(int clients, int window, int payloadBytes, TimeSpan warmup, TimeSpan duration)
    {
        await using BridgeProcess bridge = await BridgeProcess.StartAsync(maxClients: clients + 10);
        var echoes = new UdpEcho[Math.Min(4, clients)];
        for (int i = 0; i < echoes.Length; i++)
        {
            echoes[i] = new UdpEcho();
        }

        using var stop = new CancellationTokenSource();
        long echoed = 0;
        var connections = new List<RawWebSocketClient>();
        var loops = new List<Task>();
        try
        {
            for (int c = 0; c < clients; c++)
            {
                RawWebSocketClient client = await RawWebSocketClient.ConnectAsync(bridge.Url, 256 * 1024, stop.Token);
                connections.Add(client);
                byte[] frames = BuildFrames(echoes[c % echoes.Length], window, payloadBytes, out int frameLength);
                loops.Add(Task.Run(async () =>
                {
                    try
                    {
                        await client.SendAsync(frames, stop.Token);
                        while (true)
                        {
                            int received = await client.ReceiveFramesAsync(stop.Token);
                            Interlocked.Add(ref echoed, received);
                            await client.SendAsync(frames.AsMemory(0, received * frameLength), stop.Token);
                        }
                    }
                    catch (OperationCanceledException)
                    {
                    }
                }));
            }

            await Task.Delay(warmup);
            long startEchoes = Interlocked.Read(ref echoed);
            (long startAllocated, int startGen0) = await bridge.AllocatedAsync();
            TimeSpan startCpu = bridge.CpuTime;
            TimeSpan startLoadCpu = LoadGeneratorCpuTime();
            var clock = Stopwatch.StartNew();
            await Task.Delay(duration);
            long endEchoes = Interlocked.Read(ref echoed);
            double seconds = clock.Elapsed.TotalSeconds;
            double cpu = (bridge.CpuTime - startCpu).TotalSeconds / seconds;
            double loadCpu = (LoadGeneratorCpuTime() - startLoadCpu).TotalSeconds / seconds;
            (long endAllocated, int endGen0) = await bridge.AllocatedAsync();
            long measured = endEchoes - startEchoes;
            return new Result(clients, window, payloadBytes, seconds, measured, 2 * measured / seconds, cpu, loadCpu,
                (double)(endAllocated - startAllocated) / (2 * measured), endGen0 - startGen0);
        }
        finally
        {
            stop.Cancel();
            foreach (RawWebSocketClient connection in connections)
            {
                connection.Dispose();
            }

            await Task.WhenAll(loops).WaitAsync(TimeSpan.FromSeconds(30));
            foreach (UdpEcho echo in echoes)
            {
                await echo.DisposeAsync();
            }
        }
    }

    /// <summary>CPU time of this process: the websocket clients and the UDP echo servers (the load generator).</summary>
    private static TimeSpan LoadGeneratorCpuTime()
    {
        using var self = Process.GetCurrentProcess();
        return self.TotalProcessorTime;
    }

    /// <summary><paramref name="window"/> identical frames to the echo server, ready to send in any prefix.</summary>
    private static byte[] BuildFrames(UdpEcho echo, int window, int payloadBytes, out int frameLength)
    {
        byte[] message = new byte[7 + payloadBytes];
        message[0] = 4;
        echo.EndPoint.Address.GetAddressBytes().CopyTo(message, 1);
        message[5] = (byte)(echo.EndPoint.Port >> 8);
        message[6] = (byte)echo.EndPoint.Port;
        Random.Shared.NextBytes(message.AsSpan(7));

        frameLength = 6 + message.Length;
        byte[] frames = new byte[window * frameLength];
        for (int i = 0; i < window; i++)
        {
            RawWebSocketClient.WriteFrame(frames.AsSpan(i * frameLength), message);
        }

        return frames;
    }
}
