using Microsoft.Extensions.Logging;
using P2PNet.Bench;

// p2pnet-bench: `run [--quick]` drives every row of docs/performance.md's table; the other commands are the
// P2PNet ends it spawns (server, perf, latency, handshakes, idle, streams).
var parsed = new Args(args);
// --log LEVEL (e.g. Information): the role's hosts log to stderr, which the runner shows when a role fails.
using var logging = parsed.Get("log") is string level
    ? LoggerFactory.Create(b => b.SetMinimumLevel(Enum.Parse<LogLevel>(level, ignoreCase: true))
        .AddSimpleConsole(o => o.SingleLine = true).AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace))
    : null;
Roles.LoggerFactory = logging ?? Roles.LoggerFactory;
return args.Length == 0 ? Usage() : args[0] switch
{
    "run" => await new Runner(parsed).RunAsync(),
    "server" => await Roles.ServerAsync(parsed),
    "perf" => await Roles.PerfAsync(parsed),
    "latency" => await Roles.LatencyAsync(parsed),
    "handshakes" => await Roles.HandshakesAsync(parsed),
    "idle" => await Roles.IdleAsync(parsed),
    "streams" => await Roles.StreamsAsync(parsed),
    "relay-serve" => await RelayRoles.ServeAsync(parsed),
    "relay-load" => await RelayRoles.LoadAsync(parsed),
    "egress" => await EgressRole.RunAsync(parsed),
    "aead" => AeadRole.Run(parsed),
    "handshake-crypto" => HandshakeCryptoRole.Run(parsed),
    "dht" => await DhtRole.RunAsync(parsed),
    "gossip" => await GossipRole.RunAsync(parsed),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: P2PNet.Bench run [--quick] [--root DIR] | server | perf MA --upload N --download N | latency MA --count N | handshakes MA --count N --concurrency C | idle MA --count N | streams MA --count N | relay-serve | relay-load MA --count N | egress [--mib N] [--seconds S] | aead [--bytes N] | handshake-crypto [--count N] | dht [--nodes N] [--lookups M] | gossip [--nodes N] [--rate R] [--seconds S]   (clients and server take --psk FILE and --log LEVEL)");
    return 2;
}
