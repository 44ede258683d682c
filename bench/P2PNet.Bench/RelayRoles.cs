using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Protocols.Echo;
using P2PNet.Protocols.Relay;

namespace P2PNet.Bench;

/// <summary>The ends of bench/nat.sh's memory figures: a relay with its limits lifted (its own process, so its
/// resident memory can be read), and a load process holding many reservations and circuits through it.</summary>
internal static class RelayRoles
{
    /// <summary><c>relay-serve</c>: a relay on 127.0.0.1 that takes as many reservations and circuits as it is given;
    /// prints <c>LISTEN &lt;multiaddr&gt;</c> and runs until stdin closes.</summary>
    public static async Task<int> ServeAsync(Args args)
    {
        await using var host = Roles.CreateHost(args);
        var options = new RelayServiceOptions
        {
            MaxReservations = 100_000,
            MaxReservationsPerIp = 100_000,
            MaxCircuits = 100_000,
            MaxCircuitsPerPeer = 1_000,
            CircuitDataLimit = 0,
            CircuitDuration = TimeSpan.Zero,
        };
        await using var relay = new RelayService(host, options);
        relay.Start();
        var bound = await host.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
        Console.WriteLine($"LISTEN {bound[0]}");
        await Console.In.ReadToEndAsync();
        return 0;
    }

    /// <summary>
    /// <c>relay-load MA --count N</c>: N reserving hosts and N dialing hosts connect to the relay (<c>CONNECTED N</c>),
    /// the first reserve (<c>RESERVED N</c>), each dialer opens a circuit to one of them and echoes a few bytes through
    /// it (<c>CIRCUITS N</c>); each step waits for a line on stdin, so the caller can read the relay's memory between.
    /// </summary>
    public static async Task<int> LoadAsync(Args args)
    {
        var relayAddress = Multiaddr.Parse(args.Positional(0));
        int count = (int)args.GetLong("count", 100);
        var listeners = new List<P2PHost>();
        var dialers = new List<P2PHost>();
        var clients = new List<RelayClient>();
        try
        {
            for (int i = 0; i < count; i++)
            {
                var listener = Roles.CreateHost(args);
                listener.SetStreamHandler(EchoProtocol.Id, EchoProtocol.HandleAsync);
                listeners.Add(listener);
                dialers.Add(Roles.CreateHost(args));
            }
            await ForEachAsync([.. listeners, .. dialers], h => h.DialAsync(relayAddress).AsTask());
            Console.WriteLine($"CONNECTED {count}");
            await Console.In.ReadLineAsync();

            var reservations = new RelayReservation[count];
            for (int i = 0; i < count; i++)
            {
                clients.Add(new RelayClient(listeners[i]));
            }
            await ForEachAsync(Enumerable.Range(0, count), async i => reservations[i] = await clients[i].ReserveAsync(relayAddress));
            Console.WriteLine($"RESERVED {count}");
            await Console.In.ReadLineAsync();

            byte[] payload = new byte[64];
            await ForEachAsync(Enumerable.Range(0, count), async i =>
            {
                var circuit = reservations[i].CircuitAddresses.First(a => a.ToString().StartsWith("/ip4/127.0.0.1/", StringComparison.Ordinal));
                var connection = await dialers[i].DialAsync(circuit);
                var stream = await connection.OpenStreamAsync(EchoProtocol.Id);
                await stream.WriteAsync(payload, completeWrites: false);
                int read = 0;
                var buffer = new byte[payload.Length];
                while (read < payload.Length)
                {
                    int n = await stream.ReadAsync(buffer.AsMemory(read));
                    if (n == 0)
                    {
                        throw new IOException("the echo ended early");
                    }
                    read += n;
                }
            });
            Console.WriteLine($"CIRCUITS {count}");
            await Console.In.ReadLineAsync();
            return 0;
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
            foreach (var host in listeners.Concat(dialers))
            {
                await host.DisposeAsync();
            }
        }
    }

    private static async Task ForEachAsync<T>(IEnumerable<T> items, Func<T, Task> action)
    {
        using var gate = new SemaphoreSlim(16);
        await Task.WhenAll(items.Select(async item =>
        {
            await gate.WaitAsync();
            try
            {
                await action(item);
            }
            finally
            {
                gate.Release();
            }
        }));
    }
}
