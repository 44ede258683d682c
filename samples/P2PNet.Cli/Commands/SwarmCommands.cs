using System.CommandLine;
using Microsoft.Extensions.Logging;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Protocols.Echo;
using P2PNet.Security.Pnet;
using P2PNet.Swarm;

namespace P2PNet.Cli.Commands;

/// <summary><c>p2pnet swarm …</c>: private swarms (docs/private-swarms.md).</summary>
internal static class SwarmCommands
{
    private static readonly Option<string> Db = new("--db") { Description = "The swarm's SQLite file (owner: the whole swarm; member: its membership).", Required = true };
    private static readonly Option<string> Key = new("--key") { Description = "This node's identity key file (p2pnet key new).", Required = true };
    private static readonly Option<bool> Verbose = new("--verbose", "-v") { Description = "Log debug details to stderr." };

    public static Command Create()
    {
        var swarm = new Command("swarm", "Private swarms: an owner authorises peers and hands them the swarm key over a signed exchange.");
        swarm.Subcommands.Add(CreateKey());
        swarm.Subcommands.Add(CreateInit());
        swarm.Subcommands.Add(CreateAuthorize());
        swarm.Subcommands.Add(CreateRevoke());
        swarm.Subcommands.Add(CreateRotate());
        swarm.Subcommands.Add(CreateStatus());
        swarm.Subcommands.Add(CreateServe());
        swarm.Subcommands.Add(CreateJoin());
        swarm.Subcommands.Add(CreateLeave());
        return swarm;
    }

    private static Command CreateKey()
    {
        var key = new Command("key", "Swarm key files.");
        var @new = new Command("new", "Write a new swarm key file (/key/swarm/psk/1.0.0/, base16) and print its fingerprint.");
        var output = new Option<string>("--out") { Description = "The file to write.", Required = true };
        var force = new Option<bool>("--force") { Description = "Overwrite an existing file." };
        @new.Options.Add(output);
        @new.Options.Add(force);
        @new.SetAction((parse, _) => CliSupport.RunAsync(() =>
        {
            string path = parse.GetValue(output)!;
            if (File.Exists(path) && !parse.GetValue(force))
            {
                throw new IOException($"'{path}' exists; pass --force to overwrite it.");
            }
            if (File.Exists(path) && !OperatingSystem.IsWindows())
            {
                // Overwriting keeps a file's mode: restrict it before the secret goes in (0600, as for a new file).
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
            var swarmKey = SwarmKey.Generate();
            swarmKey.WriteFile(path);
            CliSupport.WriteLine(swarmKey.FingerprintHex, new EventLine("swarm_key") { Fingerprint = swarmKey.FingerprintHex });
            return Task.FromResult(0);
        }));
        key.Subcommands.Add(@new);
        return key;
    }

    /// <summary>The identity, a logger factory and a host (not listening) for an offline command.</summary>
    private sealed class Session : IAsyncDisposable
    {
        private Session(PrivateKey identity, ILoggerFactory logging, P2PHost host, SwarmStore store)
        {
            Identity = identity;
            Logging = logging;
            Host = host;
            Store = store;
        }

        public PrivateKey Identity { get; }

        public ILoggerFactory Logging { get; }

        public P2PHost Host { get; }

        public SwarmStore Store { get; }

        public static Session Open(ParseResult parse)
        {
            var identity = CliSupport.ReadKey(parse.GetValue(Key)!);
            var logging = CliSupport.CreateLoggerFactory(parse.GetValue(Verbose));
            var host = CliSupport.CreateHost(identity, logging);
            return new Session(identity, logging, host, SwarmStore.Open(parse.GetValue(Db)!));
        }

        public SwarmOwner OpenOwner() => SwarmOwner.Open(Host, Identity, Store, loggerFactory: Logging);

        public async ValueTask DisposeAsync()
        {
            await Host.DisposeAsync();
            Store.Dispose();
            Logging.Dispose();
            Identity.Dispose();
        }
    }

    private static Command WithCommon(Command command)
    {
        command.Options.Add(Db);
        command.Options.Add(Key);
        command.Options.Add(Verbose);
        return command;
    }

    private static PeerId ParsePeer(string text) =>
        PeerId.TryParse(text, out var peer) ? peer : throw new ArgumentException($"'{text}' is not a peer id.");

    private static void PrintStatus(SwarmStatus status) => CliSupport.WriteJson(DescribeStatus(status));

    private static SwarmStatusLine DescribeStatus(SwarmStatus status) => new(
        status.SwarmId,
        status.Role.ToString().ToLowerInvariant(),
        status.Owner.ToString(),
        status.IsPrivate,
        status.KeyFingerprint,
        status.AcceptedKeyFingerprints,
        status.GraceUntil,
        status.Members.Select(p => p.ToString()),
        status.ConnectedMembers.Select(p => p.ToString()),
        status.Bootstrap.Select(a => a.ToString()));

    /// <summary>
    /// Runs an owner command on the live owner of a running <c>swarm serve</c> (members are notified at once) or, when
    /// none runs, on the database directly. Prints the resulting status.
    /// </summary>
    private static async Task<int> RunOwnerCommandAsync(ParseResult parse, SwarmControl.Request request, Func<SwarmOwner, Task> apply, CancellationToken cancellationToken)
    {
        if (await SwarmControl.TrySendAsync(parse.GetValue(Db)!, request, cancellationToken) is { } reply)
        {
            Console.Out.WriteLine(reply);
            Console.Out.Flush();
            return 0;
        }
        await using var session = Session.Open(parse);
        await using var owner = session.OpenOwner();
        await apply(owner);
        PrintStatus(owner.GetStatus());
        return 0;
    }

    private static Command CreateInit()
    {
        var init = WithCommon(new Command("init", "Create a swarm owned by --key in --db: a new swarm key, authorised peers, bootstrap addresses. Prints the status."));
        var id = new Option<string?>("--id") { Description = "The swarm's id (default: random)." };
        var authorize = new Option<string[]>("--authorize") { Description = "Peer id to authorise (repeatable)." };
        var bootstrap = new Option<string[]>("--bootstrap") { Description = "Bootstrap multiaddr ending in /p2p/<id> (repeatable; default: the owner's listen addresses)." };
        init.Options.Add(id);
        init.Options.Add(authorize);
        init.Options.Add(bootstrap);
        init.SetAction((parse, _) => CliSupport.RunAsync(async () =>
        {
            var peers = (parse.GetValue(authorize) ?? []).Select(ParsePeer).ToArray();
            var addresses = (parse.GetValue(bootstrap) ?? []).Select(CliSupport.ParseAddress).ToArray();
            await using var session = Session.Open(parse);
            await using var owner = SwarmOwner.Create(session.Host, session.Identity, session.Store, parse.GetValue(id), peers, addresses, loggerFactory: session.Logging);
            PrintStatus(owner.GetStatus());
            return 0;
        }));
        return init;
    }

    private static Command CreateAuthorize()
    {
        var command = WithCommon(new Command("authorize", "Authorise peers to fetch the swarm key (owner; through the running 'swarm serve' if there is one)."));
        var peers = new Argument<string[]>("peer") { Description = "Peer ids.", Arity = ArgumentArity.OneOrMore };
        command.Arguments.Add(peers);
        command.SetAction((parse, ct) => CliSupport.RunAsync(async () =>
        {
            var ids = parse.GetValue(peers)!.Select(ParsePeer).ToArray();
            return await RunOwnerCommandAsync(parse, new("authorize", [.. ids.Select(p => p.ToString())]), owner =>
            {
                foreach (var peer in ids)
                {
                    owner.Authorize(peer);
                }
                return Task.CompletedTask;
            }, ct);
        }));
        return command;
    }

    private static Command CreateRevoke()
    {
        var command = WithCommon(new Command("revoke", "Revoke peers and rotate the key (owner). Through a running 'swarm serve' the remaining members are told at once; without one, members on the old key are told when they connect during the grace period."));
        var peers = new Argument<string[]>("peer") { Description = "Peer ids.", Arity = ArgumentArity.OneOrMore };
        command.Arguments.Add(peers);
        command.SetAction((parse, ct) => CliSupport.RunAsync(async () =>
        {
            var ids = parse.GetValue(peers)!.Select(ParsePeer).ToArray();
            return await RunOwnerCommandAsync(parse, new("revoke", [.. ids.Select(p => p.ToString())]), async owner =>
            {
                foreach (var peer in ids)
                {
                    await owner.RevokeAsync(peer, ct);
                }
            }, ct);
        }));
        return command;
    }

    private static Command CreateRotate()
    {
        var command = WithCommon(new Command("rotate", "Replace the swarm key (owner); the previous key is accepted for the grace period. Through a running 'swarm serve' members are told at once."));
        command.SetAction((parse, ct) => CliSupport.RunAsync(async () =>
        {
            return await RunOwnerCommandAsync(parse, new("rotate"), owner => owner.RotateKeyAsync(ct), ct);
        }));
        return command;
    }

    private static Command CreateStatus()
    {
        var command = WithCommon(new Command("status", "Print the swarm state in --db as one JSON line (owner or member)."));
        command.SetAction((parse, ct) => CliSupport.RunAsync(async () =>
        {
            if (await SwarmControl.TrySendAsync(parse.GetValue(Db)!, new("status"), ct) is { } live)
            {
                Console.Out.WriteLine(live); // the running owner: includes its connected members
                Console.Out.Flush();
                return 0;
            }
            await using var session = Session.Open(parse);
            try
            {
                await using var owner = session.OpenOwner();
                PrintStatus(owner.GetStatus());
            }
            catch (InvalidOperationException)
            {
                await using var member = SwarmMember.Open(session.Host, session.Identity, session.Store, loggerFactory: session.Logging);
                PrintStatus(member.GetStatus());
            }
            return 0;
        }));
        return command;
    }

    private static readonly Option<string[]> Listen = new("--listen") { Description = "Multiaddr to listen on (repeatable). Default /ip4/127.0.0.1/tcp/0." };

    private static async Task ListenAsync(P2PHost host, ParseResult parse, CancellationToken cancellationToken)
    {
        string[] addresses = parse.GetValue(Listen) is { Length: > 0 } given ? given : ["/ip4/127.0.0.1/tcp/0"];
        foreach (var address in addresses.Select(CliSupport.ParseAddress))
        {
            await host.ListenAsync(address, cancellationToken);
        }
    }

    private static void PrintListen(P2PHost host)
    {
        foreach (var address in host.ListenAddresses)
        {
            CliSupport.WriteLine($"LISTEN {address}", new EventLine("listen") { Address = address.ToString() });
        }
        Console.Out.Flush();
    }

    private static void PrintEvent(object? sender, SwarmEvent e) =>
        CliSupport.WriteJson(new SwarmEventLine(e.GetType().Name, e.ToString()), CliJsonContext.Default.SwarmEventLine);

    private static Command CreateServe()
    {
        var command = WithCommon(new Command("serve", "Run the owner node: serves the key exchange and is the swarm's bootstrap node. Prints LISTEN lines and one JSON line per swarm event; runs until SIGINT/SIGTERM. While it runs, 'swarm rotate|authorize|revoke|status' on the same --db act on it through the control socket DB.ctl/socket (in a 0700 directory; only the same user or root may use it)."));
        var enrol = new Option<bool>("--public") { Description = "Stay on the public network so peers without the key can fetch it (enrolment); without it the node joins the private swarm." };
        var enrolListen = new Option<string[]>("--enrol") { Description = "Also listen on this public multiaddr (repeatable) for enrolment only, while the owner is inside the private swarm: peers without the key fetch it there. Printed as ENROL lines." };
        command.Options.Add(Listen);
        command.Options.Add(enrol);
        command.Options.Add(enrolListen);
        command.SetAction((parse, ct) => CliSupport.RunAsync(async () =>
        {
            string[] enrolAddresses = parse.GetValue(enrolListen) ?? [];
            if (enrolAddresses.Length > 0 && parse.GetValue(enrol))
            {
                throw new ArgumentException("--enrol is for an owner inside the swarm; with --public the owner itself serves enrolment.");
            }
            await using var session = Session.Open(parse);
            session.Host.SetStreamHandler(EchoProtocol.Id, EchoProtocol.HandleAsync);
            await using var owner = session.OpenOwner();
            owner.Changed += PrintEvent;
            var shutdown = CliSupport.WaitForShutdownAsync(ct);
            await ListenAsync(session.Host, parse, ct);
            if (!parse.GetValue(enrol))
            {
                await owner.JoinAsync(ct);
            }
            // The enrolment host: same identity (a copy of the key), public network, key exchange only.
            using var enrolmentIdentity = enrolAddresses.Length > 0 ? PrivateKey.FromProtobuf(session.Identity.ToProtobuf()) : null;
            await using var enrolmentHost = enrolmentIdentity is null ? null : CliSupport.CreateHost(enrolmentIdentity, session.Logging);
            using var enrolment = enrolmentHost is null ? null : owner.ServeEnrolment(enrolmentHost);
            if (enrolmentHost is not null)
            {
                foreach (var address in enrolAddresses.Select(CliSupport.ParseAddress))
                {
                    await enrolmentHost.ListenAsync(address, ct);
                }
                foreach (var address in enrolmentHost.ListenAddresses)
                {
                    CliSupport.WriteLine($"ENROL {address}", new EventLine("enrol") { Address = address.ToString() });
                }
            }
            using var stopControl = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var control = SwarmControl.ServeAsync(owner, parse.GetValue(Db)!, DescribeStatus, stopControl.Token);
            PrintListen(session.Host);
            PrintStatus(owner.GetStatus());
            await Task.WhenAny(shutdown, control);
            await stopControl.CancelAsync();
            await control; // surfaces a control-socket failure (e.g. another serve on the same --db)
            return 0;
        }));
        return command;
    }

    private static Command CreateJoin()
    {
        var command = WithCommon(new Command("join", "Run a member node: fetch the swarm key from the owner (unless --db has it), leave the public network and join the swarm. Prints LISTEN lines, the status and swarm events; runs until SIGINT/SIGTERM."));
        var swarmId = new Option<string?>("--swarm") { Description = "The swarm's id (first join only)." };
        var owner = new Option<string?>("--owner") { Description = "The owner's multiaddr ending in /p2p/<id> (first join only)." };
        var refresh = new Option<bool>("--refresh") { Description = "Fetch the key again even if --db has one." };
        command.Options.Add(swarmId);
        command.Options.Add(owner);
        command.Options.Add(refresh);
        command.Options.Add(Listen);
        command.SetAction((parse, ct) => CliSupport.RunAsync(async () =>
        {
            await using var session = Session.Open(parse);
            session.Host.SetStreamHandler(EchoProtocol.Id, EchoProtocol.HandleAsync);
            SwarmMember member;
            if (parse.GetValue(owner) is { } ownerText)
            {
                var ownerAddress = CliSupport.ParseAddress(ownerText);
                var ownerId = ownerAddress.GetPeerId() ?? throw new ArgumentException("--owner must end in /p2p/<owner peer id>.");
                var id = parse.GetValue(swarmId) ?? throw new ArgumentException("--swarm is required with --owner.");
                member = new SwarmMember(session.Host, session.Identity, new SwarmMembership(id, ownerId, [ownerAddress]), session.Store, loggerFactory: session.Logging);
            }
            else
            {
                member = SwarmMember.Open(session.Host, session.Identity, session.Store, loggerFactory: session.Logging);
            }
            await using (member)
            {
                member.Changed += PrintEvent;
                var shutdown = CliSupport.WaitForShutdownAsync(ct);
                await ListenAsync(session.Host, parse, ct);
                if (member.Key is null || parse.GetValue(refresh))
                {
                    await member.RequestKeyAsync(ct);
                }
                await member.JoinAsync(ct);
                PrintListen(session.Host);
                PrintStatus(member.GetStatus());
                await shutdown;
            }
            return 0;
        }));
        return command;
    }

    private static Command CreateLeave()
    {
        var command = WithCommon(new Command("leave", "Leave the swarm (member): forget the stored key so the node is public again; stop a running 'swarm join' with SIGINT first."));
        command.SetAction((parse, ct) => CliSupport.RunAsync(async () =>
        {
            await using var session = Session.Open(parse);
            await using var member = SwarmMember.Open(session.Host, session.Identity, session.Store, loggerFactory: session.Logging);
            await member.LeaveAsync(ct);
            member.ForgetKey();
            PrintStatus(member.GetStatus());
            return 0;
        }));
        return command;
    }
}
