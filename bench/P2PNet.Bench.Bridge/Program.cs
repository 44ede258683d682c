using System.Globalization;
using P2PNet.Bench.Bridge;

// Benchmark of the WebSocket-to-UDP bridge: relay throughput and memory per idle client. Run through bench/bridge.sh.
//   P2PNet.Bench.Bridge [--only throughput|memory] [--idle-clients N] [--clients N] [--window N] [--payload N] [--seconds N]
//   P2PNet.Bench.Bridge serve [maxClients]      (internal: the bridge process the benchmark starts)
if (args.Length > 0 && args[0] == "serve")
{
    return await BridgeHost.RunAsync(args[1..]);
}

string? only = Option("--only");
int idleClients = int.Parse(Option("--idle-clients") ?? "10000", CultureInfo.InvariantCulture);
int clients = int.Parse(Option("--clients") ?? "16", CultureInfo.InvariantCulture);
int window = int.Parse(Option("--window") ?? "32", CultureInfo.InvariantCulture);
int payload = int.Parse(Option("--payload") ?? "32", CultureInfo.InvariantCulture);
int seconds = int.Parse(Option("--seconds") ?? "10", CultureInfo.InvariantCulture);
long descriptorLimit = ReadDescriptorLimit();

string loadBefore = ReadLoadAverage();
Console.Error.WriteLine($"bench: {Environment.ProcessorCount} cores, open-file limit {descriptorLimit}, .NET {Environment.Version}");
ThroughputBenchmark.Result? throughput = null;
IdleMemoryBenchmark.Result? memory = null;
double baseline = 0;
if (only is null or "throughput")
{
    Console.Error.WriteLine($"bench: throughput, {clients} clients x {window} in flight, {payload}-byte payloads, {seconds} s");
    throughput = await ThroughputBenchmark.RunAsync(clients, window, payload, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(seconds));
    baseline = await UdpBaseline.DatagramsPerSecondAsync(window, payload, TimeSpan.FromSeconds(3));
}

if (only is null or "memory")
{
    Console.Error.WriteLine($"bench: memory, {idleClients} idle clients");
    memory = await IdleMemoryBenchmark.RunAsync(idleClients, descriptorLimit);
}

Console.WriteLine("| Measure | Target | Measured | Met |");
Console.WriteLine("| --- | --- | --- | --- |");
if (throughput is not null)
{
    Console.WriteLine($"| Datagrams relayed per second, both directions ({throughput.PayloadBytes}-byte payloads) | ≥ 200,000 /s "
        + $"| {throughput.RelayedPerSecond:N0} /s | {(throughput.RelayedPerSecond >= 200_000 ? "yes" : "no")} |");
    Console.WriteLine($"| Bridge CPU while relaying | — | {throughput.BridgeCpuCores:N2} cores, "
        + $"{throughput.BridgeCpuCores / throughput.RelayedPerSecond * 1e6:N1} µs per datagram | — |");
    Console.WriteLine($"| Load generator CPU (websocket clients and UDP echo servers) | — | {throughput.LoadCpuCores:N2} cores, "
        + $"{throughput.LoadCpuCores / throughput.RelayedPerSecond * 1e6:N1} µs per datagram | — |");
    Console.WriteLine($"| Bridge allocation while relaying | — | {throughput.AllocatedBytesPerDatagram:N2} bytes per datagram, "
        + $"{throughput.Gen0Collections} gen-0 collections | — |");
    Console.WriteLine($"| Reference: plain UDP echo on loopback, no bridge, one socket pair | — | {baseline:N0} /s | — |");
}

if (memory is not null)
{
    Console.WriteLine($"| Memory per idle client, bridge working set ({memory.Clients:N0} clients) | ≤ 16 KiB "
        + $"| {memory.WorkingSetBytesPerClient / 1024:N1} KiB | {(memory.WorkingSetBytesPerClient <= 16 * 1024 ? "yes" : "no")} |");
    Console.WriteLine($"| Managed heap per idle client | — | {memory.HeapBytesPerClient / 1024:N1} KiB | — |");
}

Console.WriteLine();
if (throughput is not null)
{
    Console.WriteLine($"Throughput: {throughput.Clients} websocket clients, {throughput.Window} datagrams in flight each, "
        + $"{throughput.Echoes:N0} echoes in {throughput.Seconds:N1} s; bridge and load generator share the machine.");
}

if (memory is not null)
{
    Console.WriteLine($"Memory: {memory.Clients:N0} idle clients over {memory.Shards} bridge process(es) (open-file limit {descriptorLimit}, "
        + $"two descriptors per client), connected in {memory.ConnectTime.TotalSeconds:N1} s; kernel socket memory not included.");
}

Console.WriteLine($"Load average (1, 5, 15 min) before: {loadBefore}; after: {ReadLoadAverage()}.");

return 0;

string? Option(string name)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

static string ReadLoadAverage()
{
    try
    {
        return string.Join(", ", File.ReadAllText("/proc/loadavg").Split(' ')[..3]);
    }
    catch (IOException)
    {
        return "unknown";
    }
}

static long ReadDescriptorLimit()
{
    try
    {
        string line = File.ReadLines("/proc/self/limits").First(l => l.StartsWith("Max open files", StringComparison.Ordinal));
        string soft = line["Max open files".Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
        return soft == "unlimited" ? 1_000_000 : long.Parse(soft, CultureInfo.InvariantCulture);
    }
    catch (IOException)
    {
        return 1024;
    }
}
