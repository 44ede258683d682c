using System.CommandLine;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using P2PNet.Host;
using P2PNet.Multiformats;
using Microsoft.Extensions.Logging;
using P2PNet.Protocols.Dht;
using P2PNet.Protocols.Echo;
using P2PNet.Protocols.Perf;
using P2PNet.Protocols.Ping;
using P2PNet.Security.Pnet;

namespace P2PNet.Cli.Commands;

/// <summary><c>p2pnet node</c>, <c>ping</c>, <c>perf</c> and <c>echo</c>.</summary>
internal static class NodeCommands
{
    private static readonly Option<bool> Verbose = new("--verbose", "-v") { Description = "Log debug details to stderr." };

    private static Option<string?> KeyOption() => new("--key") { Description = "Identity key file (default: a new key each run)." };

    private static readonly Option<string?> Psk = new("--psk") { Description = "Swarm key file: join that private network (libp2p PSK v1)." };

    private static SwarmKey? LoadPsk(ParseResult parse) => parse.GetValue(Psk) is { } path ? SwarmKey.ReadFile(path) : null;

    public static IEnumerable<Command> Create() => [CreateNode(), CreatePing(), CreatePerf(), CreateEcho()];

    private static Command CreateNode()
    {
        var node = new Command("node", "Run a node serving identify, ping, perf and /echo/1.0.0 (and with --dht the Kademlia DHT). Prints 'LISTEN <multiaddr>' per address, then CONNECT/DISCONNECT <peer> and (with --mdns) DISCOVERED <peer> <multiaddr> lines; runs until SIGINT/SIGTERM.");
        var listen = new Option<string[]>("--listen") { Description = "Multiaddr to listen on (repeatable). Default /ip4/127.0.0.1/tcp/0." };
        var key = KeyOption();
        var mdns = new Option<bool>("--mdns") { Description = "Discover peers on the local network with mDNS (and dial them); prints 'DISCOVERED <peer-id> <multiaddr>' per address found." };
        var mdnsInterval = new Option<int>("--mdns-interval") { Description = "mDNS query interval in milliseconds.", DefaultValueFactory = _ => 10_000 };
        var bootstrap = new Option<string[]>("--bootstrap") { Description = "Bootstrap peer multiaddr ending in /p2p/<id> (repeatable): dialed at start and re-dialed with backoff while disconnected." };
        var peerStore = new Option<string?>("--peerstore") { Description = "SQLite file keeping known peers across restarts (reconnects to them at start)." };
        var dht = new Option<string?>("--dht") { Description = "Run the Kademlia DHT (/ipfs/kad/1.0.0): 'server' answers queries, 'client' only queries, 'auto' serves while AutoNAT (--autonat) finds the node public. Dials by peer id then look peers up in it." };
        dht.AcceptOnlyFromAmong("client", "server", "auto");
        var relayOptions = new RelayCliOptions();
        var natOptions = new NatCliOptions();
        node.Options.Add(listen);
        node.Options.Add(key);
        node.Options.Add(Verbose);
        node.Options.Add(Psk);
        node.Options.Add(mdns);
        node.Options.Add(mdnsInterval);
        node.Options.Add(bootstrap);
        node.Options.Add(peerStore);
        node.Options.Add(dht);
        relayOptions.AddTo(node);
        natOptions.AddTo(node, listening: true);
        node.SetAction((parse, ct) => CliSupport.RunAsync(async () =>
        {
            string[] addresses = parse.GetValue(listen) is { Length: > 0 } given ? given : ["/ip4/127.0.0.1/tcp/0"];
            var parsed = addresses.Select(CliSupport.ParseAddress).ToArray();
            using var identity = CliSupport.LoadOrCreateKey(parse.GetValue(key));
            using var logging = CliSupport.CreateLoggerFactory(parse.GetValue(Verbose));
            var psk = LoadPsk(parse);
            var bootstrapPeers = (parse.GetValue(bootstrap) ?? []).Select(CliSupport.ParseAddress).ToArray();
            if (bootstrapPeers.FirstOrDefault(a => a.GetPeerId() is null) is { } noId)
            {
                throw new ArgumentException($"--bootstrap {noId} must end in /p2p/<peer id>.");
            }
            int interval = parse.GetValue(mdnsInterval);
            if (interval <= 0)
            {
                throw new ArgumentException("--mdns-interval must be positive.");
            }
            var host = CliSupport.CreateHost(identity, logging, o =>
            {
                o.EnablePerf = true;
                o.PrivateNetworkKey = psk;
                o.Mdns.Enabled = parse.GetValue(mdns);
                o.Mdns.QueryInterval = TimeSpan.FromMilliseconds(interval);
                foreach (var peer in bootstrapPeers)
                {
                    o.BootstrapPeers.Add(peer);
                }
                o.PeerStore.DatabasePath = parse.GetValue(peerStore);
                natOptions.Configure(parse, o);
            });
            bool abandoned = false;
            try
            {
                host.SetStreamHandler(EchoProtocol.Id, EchoProtocol.HandleAsync);
                var output = new Lock();
                var printed = new HashSet<string>(StringComparer.Ordinal);
                using var discovered = host.Events.Subscribe<PeerDiscovered>(e =>
                {
                    lock (output)
                    {
                        foreach (var address in e.Addresses)
                        {
                            string line = $"DISCOVERED {e.Peer} {address}";
                            if (printed.Count < 10_000 && printed.Add(line))
                            {
                                CliSupport.WriteLine(line, new EventLine("discovered") { Peer = e.Peer.ToString(), Address = address.ToString() });
                            }
                        }
                        Console.Out.Flush();
                    }
                });
                using var connectedness = host.Events.Subscribe<PeerConnectednessChanged>(e =>
                {
                    lock (output)
                    {
                        string kind = e.Connectedness == Connectedness.Connected ? "CONNECT" : "DISCONNECT";
                        CliSupport.WriteLine($"{kind} {e.Peer}", new EventLine(kind.ToLowerInvariant()) { Peer = e.Peer.ToString() });
                        Console.Out.Flush();
                    }
                });
                var shutdown = CliSupport.WaitForShutdownAsync(ct);
                foreach (var address in parsed)
                {
                    var bound = await host.ListenAsync(address, ct);
                    lock (output)
                    {
                        foreach (var one in bound)
                        {
                            CliSupport.WriteLine($"LISTEN {one}", new EventLine("listen") { Address = one.ToString() });
                        }
                        Console.Out.Flush();
                    }
                }
                await host.StartAsync(ct); // mDNS and bootstrap (already running when a listen started the host)
                await using var kad = parse.GetValue(dht) is { } mode ? StartDht(host, mode, logging) : null;
                using var joining = new CancellationTokenSource();
                var joined = kad is null ? Task.CompletedTask : RefreshDhtWhenJoinedAsync(kad, joining.Token);
                await using var nat = await natOptions.StartAsync(parse, host, logging, output);
                await using var relays = await RelayCliOptions.StartAsync(parse, relayOptions, host, logging, output, ct, natOptions.AutoNat(parse));
                await shutdown;
                await joining.CancelAsync();
                await joined;
                abandoned = !await StopAsync(host);
                return 0;
            }
            finally
            {
                if (!abandoned)
                {
                    await host.DisposeAsync();
                }
            }
        }));
        return node;
    }

    private static KadDht StartDht(P2PHost host, string mode, ILoggerFactory logging)
    {
        var kad = new KadDht(host, new KadDhtOptions
        {
            Mode = mode switch
            {
                "server" => KadDhtMode.Server,
                "client" => KadDhtMode.Client,
                _ => KadDhtMode.Auto,
            },
        }, logging.CreateLogger<KadDht>());
        kad.Start();
        return kad;
    }

    /// <summary>Once a DHT peer is in the routing table (a bootstrap peer identified), looks up our own id: fills the table
    /// with our neighbours and tells them of us. Ends at <paramref name="cancellationToken"/> (shutdown).</summary>
    private static async Task RefreshDhtWhenJoinedAsync(KadDht kad, CancellationToken cancellationToken)
    {
        try
        {
            using var poll = new PeriodicTimer(TimeSpan.FromMilliseconds(200));
            while (kad.RoutingTableSize == 0)
            {
                await poll.WaitForNextTickAsync(cancellationToken);
            }
            await kad.BootstrapAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// Stops the node: bounded by <see cref="P2PHostOptions.ShutdownTimeout"/> (connections to peers that stopped reading
    /// are aborted), and cut short by a second SIGINT/SIGTERM.
    /// </summary>
    /// <returns><see langword="false"/> if a second signal ended the wait: the host is left as it is, the process exits.</returns>
    private static async Task<bool> StopAsync(P2PHost host)
    {
        var again = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            again.TrySetResult();
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        Task stopping = host.StopAsync(CancellationToken.None).AsTask();
        if (await Task.WhenAny(stopping, again.Task) == stopping)
        {
            await stopping;
            return true;
        }
        await Console.Error.WriteLineAsync("stopping: second signal, exiting without waiting");
        return false;
    }

    private static Command CreatePing()
    {
        var ping = new Command("ping", "Ping a peer; prints {\"rtt_ms\": …} per ping. Exit 0 only if all succeed.");
        var address = new Argument<string>("multiaddr") { Description = "The peer, e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW…" };
        var count = new Option<int>("--count", "-c") { Description = "Number of pings.", DefaultValueFactory = _ => 1 };
        var interval = new Option<double>("--interval", "-i") { Description = "Milliseconds to wait after each answer before the next ping, on the same stream (0: back to back). Shows what a connection that sleeps between messages costs (docs/performance.md).", DefaultValueFactory = _ => 0 };
        var key = KeyOption();
        var timeout = CliSupport.TimeoutOption();
        ping.Arguments.Add(address);
        ping.Options.Add(count);
        ping.Options.Add(interval);
        ping.Options.Add(timeout);
        ping.Options.Add(key);
        ping.Options.Add(Verbose);
        ping.Options.Add(Psk);
        ClientListen.AddTo(ping);
        ping.SetAction((parse, cancel) => CliSupport.RunClientAsync(parse, timeout, async ct =>
        {
            int n = parse.GetValue(count);
            if (n <= 0)
            {
                throw new ArgumentException("--count must be at least 1.");
            }
            double wait = parse.GetValue(interval);
            if (!(wait >= 0 && wait <= 3_600_000))
            {
                throw new ArgumentException("--interval must be between 0 and 3600000 milliseconds.");
            }
            await using var session = await ClientSession.ConnectAsync(parse, address, key, ct);
            int done = 0;
            await foreach (var rtt in PingProtocol.PingAsync(session.Connection, n, ct))
            {
                CliSupport.WriteJson(new PingLine(Math.Round(rtt.TotalMilliseconds, 3)), CliJsonContext.Default.PingLine);
                if (wait > 0 && ++done < n)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(wait), ct);
                }
            }
            return 0;
        }, cancel));
        return ping;
    }

    private static Command CreatePerf()
    {
        var perf = new Command("perf", "Measure throughput with /perf/1.0.0; prints a {\"type\":\"intermediary\",…} progress line every second, then the result as one JSON line.");
        var address = new Argument<string>("multiaddr") { Description = "The peer." };
        var upload = new Option<long>("--upload") { Description = "Bytes to upload.", DefaultValueFactory = _ => 0 };
        var download = new Option<long>("--download") { Description = "Bytes to download.", DefaultValueFactory = _ => 0 };
        var key = KeyOption();
        var timeout = CliSupport.TimeoutOption();
        perf.Arguments.Add(address);
        perf.Options.Add(timeout);
        perf.Options.Add(upload);
        perf.Options.Add(download);
        perf.Options.Add(key);
        perf.Options.Add(Verbose);
        perf.Options.Add(Psk);
        ClientListen.AddTo(perf);
        perf.SetAction((parse, cancel) => CliSupport.RunClientAsync(parse, timeout, async ct =>
        {
            long up = parse.GetValue(upload), down = parse.GetValue(download);
            if (up < 0 || down < 0)
            {
                throw new ArgumentException("--upload and --download must not be negative.");
            }
            await using var session = await ClientSession.ConnectAsync(parse, address, key, ct);
            var result = await PerfProgressPrinter.RunAsync(
                progress => PerfProtocol.RunAsync(session.Connection, up, down, progress, ct), TimeSpan.FromSeconds(1), ct);
            CliSupport.WriteJson(new PerfLine(
                result.UploadBytes,
                result.DownloadBytes,
                Math.Round(result.Total.TotalSeconds, 6),
                Gbit(result.UploadBytes, result.Upload),
                Gbit(result.DownloadBytes, result.Download)), CliJsonContext.Default.PerfLine);
            return 0;
        }, cancel));
        return perf;
    }

    private static double Gbit(long bytes, TimeSpan time) =>
        time <= TimeSpan.Zero || bytes == 0 ? 0 : Math.Round(bytes * 8 / time.TotalSeconds / 1e9, 4);

    private static Command CreateEcho()
    {
        var echo = new Command("echo", "Send random bytes on /echo/1.0.0 and check they come back; prints {\"bytes\":N,\"ok\":true}.");
        var address = new Argument<string>("multiaddr") { Description = "The peer." };
        var bytes = new Option<long>("--bytes") { Description = "Bytes to send.", DefaultValueFactory = _ => 1024 };
        var key = KeyOption();
        var timeout = CliSupport.TimeoutOption();
        echo.Arguments.Add(address);
        echo.Options.Add(timeout);
        echo.Options.Add(bytes);
        echo.Options.Add(key);
        echo.Options.Add(Verbose);
        echo.Options.Add(Psk);
        ClientListen.AddTo(echo);
        echo.SetAction((parse, cancel) => CliSupport.RunClientAsync(parse, timeout, async ct =>
        {
            long n = parse.GetValue(bytes);
            if (n < 0)
            {
                throw new ArgumentException("--bytes must not be negative.");
            }
            await using var session = await ClientSession.ConnectAsync(parse, address, key, ct);
            var stream = await session.Connection.OpenStreamAsync(EchoProtocol.Id, ct);
            await using (stream)
            {
                using var sent = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                using var received = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var writer = Task.Run(async () =>
                {
                    byte[] block = new byte[64 * 1024];
                    for (long left = n; left > 0;)
                    {
                        int chunk = (int)Math.Min(left, block.Length);
                        RandomNumberGenerator.Fill(block.AsSpan(0, chunk));
                        sent.AppendData(block, 0, chunk);
                        await stream.WriteAsync(block.AsMemory(0, chunk), ct);
                        left -= chunk;
                    }
                    await stream.CompleteWritesAsync(ct);
                }, ct);
                long total = 0;
                byte[] buffer = new byte[64 * 1024];
                int read;
                while ((read = await stream.ReadAsync(buffer, ct)) > 0)
                {
                    received.AppendData(buffer, 0, read);
                    total += read;
                }
                await writer;
                bool ok = total == n && sent.GetHashAndReset().AsSpan().SequenceEqual(received.GetHashAndReset());
                if (!ok)
                {
                    throw new IOException($"echo mismatch: sent {n} bytes, received {total}{(total == n ? " with different content" : "")}.");
                }
                CliSupport.WriteJson(new EchoLine(n, ok), CliJsonContext.Default.EchoLine);
            }
            return 0;
        }, cancel));
        return echo;
    }

    /// <summary>A short-lived host dialed to one peer, for the client commands.</summary>
    private sealed class ClientSession : IAsyncDisposable
    {
        private readonly Crypto.PrivateKey _identity;
        private readonly Microsoft.Extensions.Logging.ILoggerFactory _logging;
        private readonly P2PHost _host;

        private ClientSession(Crypto.PrivateKey identity, Microsoft.Extensions.Logging.ILoggerFactory logging, P2PHost host, P2PConnection connection)
        {
            _identity = identity;
            _logging = logging;
            _host = host;
            Connection = connection;
        }

        public P2PConnection Connection { get; }

        public static async Task<ClientSession> ConnectAsync(ParseResult parse, Argument<string> address, Option<string?> key, CancellationToken ct)
        {
            Multiaddr target = CliSupport.ParseAddress(parse.GetValue(address)!);
            var psk = LoadPsk(parse);
            var identity = CliSupport.LoadOrCreateKey(parse.GetValue(key));
            var logging = CliSupport.CreateLoggerFactory(parse.GetValue(Verbose));
            var host = CliSupport.CreateHost(identity, logging, o =>
            {
                o.PrivateNetworkKey = psk;
                ClientListen.Configure(parse, o);
            });
            try
            {
                // Hole punching keeps answering for the whole run (disposed with the host).
                _ = await ClientListen.StartAsync(parse, host, logging);
                var connection = await host.DialAsync(target, ct);
                connection = await ClientListen.AwaitDirectAsync(parse, host, connection, ct);
                return new ClientSession(identity, logging, host, connection);
            }
            catch (IOException e) when (e.GetType() == typeof(IOException))
            {
                // The host's typed failures (handshake, gater, private network) are the peer's answer; a plain
                // IOException is the transport's: connect refused, no route, resolve failure, connect timeout.
                await host.DisposeAsync();
                logging.Dispose();
                identity.Dispose();
                throw new PeerUnreachableException(e.Message, e);
            }
            catch
            {
                await host.DisposeAsync();
                logging.Dispose();
                identity.Dispose();
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _host.DisposeAsync();
            _logging.Dispose();
            _identity.Dispose();
        }
    }
}
