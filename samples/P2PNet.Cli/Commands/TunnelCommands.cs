using System.CommandLine;
using System.Globalization;
using System.Net;
using Microsoft.Data.Sqlite;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.Peers;
using P2PNet.Proxy.Tunnels;

namespace P2PNet.Cli.Commands;

/// <summary>
/// <c>p2pnet tunnel …</c>: reverse tunnels that expose services of devices behind NAT through a public server
/// (<c>token</c>, <c>serve</c>, <c>expose</c>, <c>status</c>), and peer-to-peer forwarding without a server
/// (<c>listen</c>, <c>forward</c>). See docs/tunnels.md.
/// </summary>
internal static class TunnelCommands
{
    public static Command Create()
    {
        var tunnel = new Command("tunnel", "Expose services of devices behind NAT through a public tunnel server, or forward ports peer to peer.");
        tunnel.Subcommands.Add(CreateToken());
        tunnel.Subcommands.Add(CreateServe());
        tunnel.Subcommands.Add(CreateExpose());
        tunnel.Subcommands.Add(CreateStatus());
        tunnel.Subcommands.Add(CreateListen());
        tunnel.Subcommands.Add(CreateForward());
        return tunnel;
    }

    private static Option<string> DbOption() => new("--db") { Description = "The tunnel server's SQLite database.", Required = true };

    private static Option<string?> KeyOption() => new("--key")
    {
        Description = "Identity key file; created when absent (a device keeps its identity, and so its registration, across restarts).",
    };

    private static Command CreateToken()
    {
        var token = new Command("token", "Issue and revoke device tokens (stored hashed in the server's database).");
        var db = DbOption();
        var name = new Option<string>("--name") { Description = "The device name the token is bound to.", Required = true };
        var @new = new Command("new", "Issue a token for a device; prints the token alone on a line (it is stored only hashed).");
        @new.Options.Add(db);
        @new.Options.Add(name);
        @new.SetAction((parse, _) => RunAsync(() =>
        {
            using var store = TunnelTokenStore.Open(parse.GetValue(db)!);
            string issued = store.CreateToken(parse.GetValue(name)!);
            CliSupport.WriteLine(issued, new EventLine("token") { Message = issued, Device = parse.GetValue(name) });
            return Task.FromResult(ExitCodes.Ok);
        }));
        var revoke = new Command("revoke", "Revoke a device's token; a running server cuts the device off within its status interval.");
        var db2 = DbOption();
        var name2 = new Option<string>("--name") { Description = "The device name.", Required = true };
        revoke.Options.Add(db2);
        revoke.Options.Add(name2);
        revoke.SetAction((parse, _) => RunAsync(() =>
        {
            using var store = TunnelTokenStore.Open(parse.GetValue(db2)!);
            string device = parse.GetValue(name2)!;
            if (!store.Revoke(device))
            {
                throw new TunnelRegistrationException(TunnelStatusCode.BadToken, $"no unrevoked token for device '{device}'");
            }
            CliSupport.WriteLine($"REVOKED {device}", new EventLine("revoked") { Device = device });
            return Task.FromResult(ExitCodes.Ok);
        }));
        token.Subcommands.Add(@new);
        token.Subcommands.Add(revoke);
        return token;
    }

    private static Command CreateServe()
    {
        var command = new Command("serve", "Run the public tunnel server. Prints 'TUNNEL SERVER <multiaddr>' per listen address and runs until SIGINT/SIGTERM.");
        var key = KeyOption();
        var listen = new Option<string[]>("--listen") { Description = "Multiaddr devices dial (repeatable). Default /ip4/0.0.0.0/tcp/4001." };
        var db = DbOption();
        var publicHost = new Option<string>("--public-host") { Description = "The host renters connect to for TCP/UDP ports (returned to devices).", Required = true };
        var ports = new Option<string>("--ports") { Description = "The public port range FIRST-LAST.", DefaultValueFactory = _ => "20000-20999" };
        var bind = new Option<string>("--bind") { Description = "The address public ports are bound on.", DefaultValueFactory = _ => "0.0.0.0" };
        var http = new Option<string?>("--http") { Description = "HOST:PORT of the HTTP front (routes by Host header)." };
        var https = new Option<string?>("--https") { Description = "HOST:PORT of the TLS front (routes by SNI, does not terminate TLS)." };
        var domain = new Option<string>("--domain") { Description = "Domain of the service names <service>.<device>.<domain>.", DefaultValueFactory = _ => "localhost" };
        var maxConnections = new Option<int>("--max-connections") { Description = "Most open public connections per tunnel.", DefaultValueFactory = _ => new TunnelServerOptions().MaxConnectionsPerTunnel };
        var maxRate = new Option<long>("--max-rate") { Description = "Most bytes per second per tunnel each way (0: unlimited)." };
        var idle = new Option<double>("--idle-timeout") { Description = "Seconds after which an idle public connection is closed.", DefaultValueFactory = _ => new TunnelServerOptions().IdleTimeout.TotalSeconds };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log debug details to stderr." };
        foreach (var option in new Option[] { key, listen, db, publicHost, ports, bind, http, https, domain, maxConnections, maxRate, idle, verbose })
        {
            command.Options.Add(option);
        }
        command.SetAction((parse, ct) => RunAsync(async () =>
        {
            var options = new TunnelServerOptions
            {
                PublicHost = parse.GetValue(publicHost)!,
                BindAddress = ParseIp(parse.GetValue(bind)!, "--bind"),
                HttpEndPoint = parse.GetValue(http) is { } h ? ParseEndPoint(h, "--http") : null,
                HttpsEndPoint = parse.GetValue(https) is { } s ? ParseEndPoint(s, "--https") : null,
                Domain = parse.GetValue(domain)!,
                MaxConnectionsPerTunnel = parse.GetValue(maxConnections),
                MaxBytesPerSecondPerTunnel = parse.GetValue(maxRate),
                IdleTimeout = TimeSpan.FromSeconds(parse.GetValue(idle)),
            };
            (options.FirstPort, options.LastPort) = ParseRange(parse.GetValue(ports)!);
            string[] listenAddresses = parse.GetValue(listen) is { Length: > 0 } given ? given : ["/ip4/0.0.0.0/tcp/4001"];
            var parsed = listenAddresses.Select(CliSupport.ParseAddress).ToArray();
            using var store = TunnelTokenStore.Open(parse.GetValue(db)!);
            using var identity = LoadOrCreateKey(parse.GetValue(key));
            using var logging = CliSupport.CreateLoggerFactory(parse.GetValue(verbose));
            await using var host = CliSupport.CreateHost(identity, logging, o => RaiseStreamLimits(o, options.MaxConnectionsPerTunnel * 4));
            var shutdown = CliSupport.WaitForShutdownAsync(ct);
            await using var server = new TunnelServer(host, store, options, logging);
            await server.StartAsync(ct);
            await host.StartAsync(ct);
            foreach (var a in parsed)
            {
                await host.ListenAsync(a, ct);
            }
            foreach (string bound in FullAddresses(host))
            {
                CliSupport.WriteLine($"TUNNEL SERVER {bound}", new EventLine("tunnel_server") { Address = bound });
            }
            if (server.HttpEndPoint is { } he)
            {
                CliSupport.WriteLine($"HTTP FRONT {he}", new EventLine("http_front") { Address = he.ToString() });
            }
            if (server.HttpsEndPoint is { } te)
            {
                CliSupport.WriteLine($"TLS FRONT {te}", new EventLine("tls_front") { Address = te.ToString() });
            }
            await shutdown;
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command CreateExpose()
    {
        var command = new Command("expose",
            "Expose local services through a tunnel server. Prints 'EXPOSED <service> <kind> <address>' per service after each "
            + "registration (again after a reconnection) and runs until SIGINT/SIGTERM or until the server cuts the device off.");
        var key = KeyOption();
        var server = new Option<string>("--server") { Description = "The tunnel server's multiaddr, ending in /p2p/<peer id>.", Required = true };
        var token = new Option<string>("--token") { Description = "The token the server's operator issued for this device.", Required = true };
        var tcp = new Option<string[]>("--tcp") { Description = "NAME=HOST:PORT: a TCP service, published on a port of the server (repeatable).", Arity = ArgumentArity.ZeroOrMore };
        var udp = new Option<string[]>("--udp") { Description = "NAME=HOST:PORT: a UDP service, published on a port of the server (repeatable).", Arity = ArgumentArity.ZeroOrMore };
        var http = new Option<string[]>("--http") { Description = "NAME=HOST:PORT: an HTTP service, published as NAME.<device>.<domain> (repeatable).", Arity = ArgumentArity.ZeroOrMore };
        var https = new Option<string[]>("--https") { Description = "NAME=HOST:PORT: a TLS service (the device keeps its certificate), published as NAME.<device>.<domain> (repeatable).", Arity = ArgumentArity.ZeroOrMore };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log debug details to stderr." };
        foreach (var option in new Option[] { key, server, token, tcp, udp, http, https, verbose })
        {
            command.Options.Add(option);
        }
        command.SetAction((parse, ct) => RunAsync(async () =>
        {
            var options = new TunnelDeviceOptions { Server = CliSupport.ParseAddress(parse.GetValue(server)!), Token = parse.GetValue(token)! };
            if (options.Server.GetPeerId() is null)
            {
                throw new ArgumentException("--server must end in /p2p/<peer id>.");
            }
            foreach (var (values, kind) in new[] { (tcp, TunnelServiceKind.Tcp), (udp, TunnelServiceKind.Udp), (http, TunnelServiceKind.Http), (https, TunnelServiceKind.Https) })
            {
                foreach (string value in parse.GetValue(values) ?? [])
                {
                    try
                    {
                        options.Services.Add(TunnelServiceSpec.Parse(kind, value));
                    }
                    catch (FormatException e)
                    {
                        throw new ArgumentException($"--{kind.ToString().ToLowerInvariant()} {value}: {e.Message}", e);
                    }
                }
            }
            if (options.Services.Count == 0)
            {
                throw new ArgumentException("give at least one of --tcp, --udp, --http, --https.");
            }
            using var identity = LoadOrCreateKey(parse.GetValue(key));
            using var logging = CliSupport.CreateLoggerFactory(parse.GetValue(verbose));
            await using var host = CliSupport.CreateHost(identity, logging, o =>
            {
                RaiseStreamLimits(o, 16 * 1024);
                // The device trusts its server: its connection is exempt from the per-peer budgets.
                o.Resources.AllowedPeers.Add(options.Server.GetPeerId()!);
            });
            var shutdown = CliSupport.WaitForShutdownAsync(ct);
            await using var device = new TunnelDevice(host, options, logging);
            device.Registered += assignments =>
            {
                foreach (var a in assignments)
                {
                    CliSupport.WriteLine($"EXPOSED {a}", new EventLine("exposed") { Address = a.Address, Device = a.Service, Message = a.Kind.ToString().ToLowerInvariant() });
                }
            };
            try
            {
                await device.StartAsync(ct);
            }
            catch (Exception e) when (e is not TunnelRegistrationException and not OperationCanceledException and not OutOfMemoryException)
            {
                throw new TimeoutException($"server unreachable: {e.Message}", e);
            }
            var done = await Task.WhenAny(shutdown, device.Completion);
            if (done == device.Completion)
            {
                await device.Completion; // Throws why the server cut the device off.
            }
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command CreateStatus()
    {
        var command = new Command("status", "Print each tunnel (device, service, address, connections, bytes and rates) and each token, as the server last wrote them.");
        var db = DbOption();
        command.Options.Add(db);
        command.SetAction((parse, _) => RunAsync(() =>
        {
            using var store = TunnelTokenStore.Open(parse.GetValue(db)!);
            var rows = store.ReadStatus();
            if (CliSupport.JsonOutput)
            {
                foreach (var row in rows)
                {
                    CliSupport.WriteLine("", new EventLine("tunnel")
                    {
                        Device = row.Device,
                        Peer = row.PeerId,
                        Address = row.Address,
                        Message = string.Create(CultureInfo.InvariantCulture,
                            $"{row.Service} {row.Kind.ToString().ToLowerInvariant()} online={row.Online} active={row.ActiveConnections} connections={row.TotalConnections} in={row.BytesIn} out={row.BytesOut}"),
                    });
                }
                return Task.FromResult(ExitCodes.Ok);
            }
            Console.Out.WriteLine($"{"DEVICE",-16} {"SERVICE",-12} {"KIND",-5} {"ADDRESS",-32} {"STATE",-7} {"ACTIVE",6} {"CONNS",7} {"BYTES IN",12} {"BYTES OUT",12} {"IN/s",10} {"OUT/s",10}");
            foreach (var row in rows)
            {
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{row.Device,-16} {row.Service,-12} {row.Kind.ToString().ToLowerInvariant(),-5} {row.Address,-32} {(row.Online ? "online" : "offline"),-7} {row.ActiveConnections,6} {row.TotalConnections,7} {row.BytesIn,12} {row.BytesOut,12} {row.BytesInPerSecond,10:0} {row.BytesOutPerSecond,10:0}"));
            }
            foreach (var t in store.ListTokens())
            {
                Console.Out.WriteLine($"TOKEN {t}");
            }
            return Task.FromResult(ExitCodes.Ok);
        }));
        return command;
    }

    private static Command CreateListen()
    {
        var command = new Command("listen",
            "Serve named local targets to allowed peers, peer to peer without a server (the other side runs 'p2pnet tunnel forward'). "
            + "Prints 'LISTEN <multiaddr>' per address and runs until SIGINT/SIGTERM.");
        var key = KeyOption();
        var listen = new Option<string[]>("--listen") { Description = "Multiaddr to listen on (repeatable). Default /ip4/0.0.0.0/tcp/0." };
        var target = new Option<string[]>("--target") { Description = "NAME=HOST:PORT: a target peers may reach (repeatable). Nothing else is served.", Arity = ArgumentArity.OneOrMore, Required = true };
        var allow = new Option<string[]>("--allow") { Description = "PEERID allowed to forward (repeatable).", Arity = ArgumentArity.ZeroOrMore };
        var allowAny = new Option<bool>("--allow-any") { Description = "Let every peer that can connect forward (e.g. inside a private swarm)." };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log debug details to stderr." };
        foreach (var option in new Option[] { key, listen, target, allow, allowAny, verbose })
        {
            command.Options.Add(option);
        }
        command.SetAction((parse, ct) => RunAsync(async () =>
        {
            var options = new ForwardTargetOptions { AllowAnyPeer = parse.GetValue(allowAny) };
            foreach (string value in parse.GetValue(target) ?? [])
            {
                TunnelServiceSpec spec;
                try
                {
                    spec = TunnelServiceSpec.Parse(TunnelServiceKind.Tcp, value);
                }
                catch (FormatException e)
                {
                    throw new ArgumentException($"--target {value}: {e.Message}", e);
                }
                options.Targets[spec.Name] = spec.LocalEndPoint;
            }
            foreach (string value in parse.GetValue(allow) ?? [])
            {
                options.AllowedPeers.Add(PeerId.TryParse(value, out var peer) ? peer : throw new ArgumentException($"--allow {value}: not a peer id."));
            }
            if (options.AllowedPeers.Count == 0 && !options.AllowAnyPeer)
            {
                throw new ArgumentException("give --allow PEERID (repeatable) or --allow-any.");
            }
            string[] listenAddresses = parse.GetValue(listen) is { Length: > 0 } given ? given : ["/ip4/0.0.0.0/tcp/0"];
            var parsed = listenAddresses.Select(CliSupport.ParseAddress).ToArray();
            using var identity = LoadOrCreateKey(parse.GetValue(key));
            using var logging = CliSupport.CreateLoggerFactory(parse.GetValue(verbose));
            await using var host = CliSupport.CreateHost(identity, logging);
            var shutdown = CliSupport.WaitForShutdownAsync(ct);
            await using var targets = new ForwardTarget(host, options, logging);
            targets.Start();
            await host.StartAsync(ct);
            foreach (var a in parsed)
            {
                await host.ListenAsync(a, ct);
            }
            foreach (string bound in FullAddresses(host))
            {
                CliSupport.WriteLine($"LISTEN {bound}", new EventLine("listen") { Address = bound });
            }
            await shutdown;
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command CreateForward()
    {
        var command = new Command("forward",
            "Forward a local TCP port to a named target of a peer running 'p2pnet tunnel listen' (direct or relayed connection). "
            + "Prints 'FORWARD <local> -> <target>@<peer>' and runs until SIGINT/SIGTERM.");
        var key = KeyOption();
        var peer = new Option<string>("--peer") { Description = "The peer's multiaddr, ending in /p2p/<peer id>.", Required = true };
        var target = new Option<string>("--target") { Description = "The target's name on that peer.", Required = true };
        var local = new Option<string>("--local") { Description = "HOST:PORT to accept local connections on (port 0 picks one).", DefaultValueFactory = _ => "127.0.0.1:0" };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log debug details to stderr." };
        foreach (var option in new Option[] { key, peer, target, local, verbose })
        {
            command.Options.Add(option);
        }
        command.SetAction((parse, ct) => RunAsync(async () =>
        {
            var address = CliSupport.ParseAddress(parse.GetValue(peer)!);
            var peerId = address.GetPeerId() ?? throw new ArgumentException("--peer must end in /p2p/<peer id>.");
            var endPoint = ParseEndPoint(parse.GetValue(local)!, "--local");
            using var identity = LoadOrCreateKey(parse.GetValue(key));
            using var logging = CliSupport.CreateLoggerFactory(parse.GetValue(verbose));
            await using var host = CliSupport.CreateHost(identity, logging);
            var shutdown = CliSupport.WaitForShutdownAsync(ct);
            try
            {
                await host.DialAsync(address, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException)
            {
                throw new TimeoutException($"peer unreachable: {e.Message}", e);
            }
            await using var forwarder = new PortForwarder(host, peerId, parse.GetValue(target)!, endPoint, loggerFactory: logging);
            await forwarder.StartAsync(ct);
            CliSupport.WriteLine($"FORWARD {forwarder.LocalEndPoint} -> {parse.GetValue(target)}@{peerId}",
                new EventLine("forward") { Address = forwarder.LocalEndPoint?.ToString(), Peer = peerId.ToString() });
            await shutdown;
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>Runs a command body: tunnel refusals and database failures become one <c>error:</c> line too.</summary>
    private static Task<int> RunAsync(Func<Task<int>> body) => CliSupport.RunAsync(async () =>
    {
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (TunnelRegistrationException e)
        {
            int code = e.Status == TunnelStatusCode.RangeExhausted ? ExitCodes.General : ExitCodes.Refused;
            await CliSupport.WriteErrorAsync(code, e.Message).ConfigureAwait(false);
            return code;
        }
        catch (SqliteException e)
        {
            await CliSupport.WriteErrorAsync(ExitCodes.General, "database: " + e.Message).ConfigureAwait(false);
            return ExitCodes.General;
        }
    });

    /// <summary>
    /// Every public connection is one stream on the device's single connection: the host's default budgets per peer and
    /// per connection (512 inbound streams, 64 MiB of buffers) would cap a tunnel at a few dozen busy connections.
    /// Buffers stay bounded by the host-wide budget (1 GiB here).
    /// </summary>
    private static void RaiseStreamLimits(P2PHostOptions options, int streams)
    {
        // Yamux caps concurrent streams per session (1,024 by default): both ends of the device's connection must allow more.
        options.Yamux.MaxConcurrentStreams = Math.Max(options.Yamux.MaxConcurrentStreams, streams);
        var limits = options.Resources;
        limits.MaxMemory = Math.Max(limits.MaxMemory, 1L << 30);
        limits.MaxMemoryPerPeer = limits.MaxMemory;
        limits.MaxMemoryPerConnection = limits.MaxMemory;
        limits.MaxInboundStreamsPerPeer = Math.Max(limits.MaxInboundStreamsPerPeer, streams);
        limits.MaxInboundStreamsPerConnection = Math.Max(limits.MaxInboundStreamsPerConnection, streams);
        limits.MaxInboundStreamsPerProtocol = Math.Max(limits.MaxInboundStreamsPerProtocol, streams);
        limits.MaxInboundStreams = Math.Max(limits.MaxInboundStreams, streams);
        limits.MaxOutboundStreamsPerPeer = Math.Max(limits.MaxOutboundStreamsPerPeer, streams);
        limits.MaxOutboundStreamsPerConnection = Math.Max(limits.MaxOutboundStreamsPerConnection, streams);
        limits.MaxOutboundStreamsPerProtocol = Math.Max(limits.MaxOutboundStreamsPerProtocol, streams);
        limits.MaxOutboundStreams = Math.Max(limits.MaxOutboundStreams, streams);
    }

    /// <summary>The host's listen addresses, each ending in /p2p/&lt;its peer id&gt;.</summary>
    private static IEnumerable<string> FullAddresses(P2PHost host) =>
        host.ListenAddresses.Select(a => CliSupport.DialableAddress(host, a));

    private static PrivateKey LoadOrCreateKey(string? path)
    {
        if (path is not null && !File.Exists(path))
        {
            var created = PrivateKey.GenerateEd25519();
            created.WriteFile(path);
            return created;
        }
        return CliSupport.LoadOrCreateKey(path);
    }

    private static (int First, int Last) ParseRange(string text)
    {
        string[] parts = text.Split('-', 2);
        if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int first)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int last) && first is > 0 and <= 65535
            && last is > 0 and <= 65535 && first <= last)
        {
            return (first, last);
        }
        throw new ArgumentException($"--ports '{text}' is not FIRST-LAST (e.g. 20000-20999).");
    }

    private static IPAddress ParseIp(string text, string option) =>
        IPAddress.TryParse(text, out var ip) ? ip : throw new ArgumentException($"{option} '{text}' is not an IP address.");

    private static IPEndPoint ParseEndPoint(string text, string option) =>
        IPEndPoint.TryParse(text, out var ep) && text.Contains(':', StringComparison.Ordinal)
            ? ep
            : throw new ArgumentException($"{option} '{text}' is not HOST:PORT (e.g. 0.0.0.0:8080).");
}
