using System.CommandLine;
using System.Runtime.ExceptionServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Multistream;
using P2PNet.Peers;
using P2PNet.Protocols.Dht;

namespace P2PNet.Cli.Commands;

/// <summary>
/// <c>p2pnet dht provide|find-providers|find-peer</c>: the Kademlia DHT (<c>/ipfs/kad/1.0.0</c>) from the command line.
/// Output lines (a script contract): <c>LISTEN &lt;multiaddr&gt;/p2p/&lt;id&gt;</c>, <c>PROVIDING &lt;cid&gt;</c>,
/// <c>PROVIDER &lt;peer id&gt; &lt;multiaddr&gt;…</c>, <c>PEER &lt;peer id&gt; &lt;multiaddr&gt;…</c>.
/// </summary>
internal static class DhtCommand
{
    /// <summary>How long identify may take to show that a bootstrap peer serves the DHT.</summary>
    private static readonly TimeSpan DhtPeerWait = TimeSpan.FromSeconds(10);

    public static Command Create()
    {
        var dht = new Command("dht", "Use the Kademlia DHT (/ipfs/kad/1.0.0): announce and find providers of a CID, find a peer's addresses.");
        dht.Subcommands.Add(CreateProvide());
        dht.Subcommands.Add(CreateFindProviders());
        dht.Subcommands.Add(CreateFindPeer());
        return dht;
    }

    private static Option<string[]> BootstrapOption(bool required) => new("--bootstrap")
    {
        Description = "DHT peer multiaddr ending in /p2p/<id> (repeatable): dialed first; the lookups start from it.",
        Required = required,
    };

    private static Command CreateProvide()
    {
        var command = new Command("provide", "Announce that this node provides <cid>, then keep serving the DHT. Prints 'LISTEN <multiaddr>' per address, then 'PROVIDING <cid>' once the closest peers were told; runs until SIGINT/SIGTERM.");
        var host = new NodeHostOptions("Multiaddr to listen on (repeatable). Default /ip4/127.0.0.1/tcp/0.");
        var bootstrap = BootstrapOption(required: false);
        var cid = new Argument<string>("cid") { Description = "The content id: CIDv1 (bafy…) or CIDv0 (Qm…)." };
        command.Arguments.Add(cid);
        foreach (var option in new Option[] { host.Key, host.Listen, bootstrap, host.Psk, host.Verbose })
        {
            command.Options.Add(option);
        }
        command.SetAction((parse, ct) => CliSupport.RunAsync(async () =>
        {
            var content = ContentId.Parse(parse.GetValue(cid)!);
            string[] listen = parse.GetValue(host.Listen) is { Length: > 0 } given ? given : ["/ip4/127.0.0.1/tcp/0"];
            var addresses = listen.Select(CliSupport.ParseAddress).ToArray();
            var bootstrapPeers = ParseBootstrap(parse.GetValue(bootstrap));
            var psk = host.ReadSwarmKey(parse);
            using var identity = CliSupport.LoadOrCreateKey(parse.GetValue(host.Key));
            using var logging = CliSupport.CreateLoggerFactory(parse.GetValue(host.Verbose));
            await using var node = CliSupport.CreateHost(identity, logging, o =>
            {
                o.PrivateNetworkKey = psk;
                foreach (var peer in bootstrapPeers)
                {
                    o.BootstrapPeers.Add(peer); // re-dialed while disconnected: the provider stays in the DHT
                }
            });
            await using var kad = new KadDht(node, new KadDhtOptions { Mode = KadDhtMode.Server }, logging.CreateLogger<KadDht>());
            kad.Start();
            var shutdown = CliSupport.WaitForShutdownAsync(ct);
            foreach (var address in addresses)
            {
                foreach (var bound in await node.ListenAsync(address, ct))
                {
                    string full = CliSupport.DialableAddress(node, bound);
                    Write($"LISTEN {full}", new DhtLine("listen") { Address = full });
                }
            }
            await node.StartAsync(ct);
            if (bootstrapPeers.Length > 0)
            {
                await JoinAsync(node, kad, bootstrapPeers, ct);
            }
            await kad.ProvideAsync(content.Multihash, ct);
            Write($"PROVIDING {content.Text}", new DhtLine("providing") { Cid = content.Text });
            await shutdown;
            return 0;
        }));
        return command;
    }

    private static Command CreateFindProviders()
    {
        var command = new Command("find-providers", "Find the peers that provide <cid>. Prints 'PROVIDER <peer id> <multiaddr>…' per provider; exit 6 when none is found.");
        var bootstrap = BootstrapOption(required: true);
        var count = new Option<int>("--count", "-n") { Description = "Stop after this many providers.", DefaultValueFactory = _ => 20 };
        var timeout = CliSupport.TimeoutOption();
        var host = new NodeHostOptions();
        var cid = new Argument<string>("cid") { Description = "The content id: CIDv1 (bafy…) or CIDv0 (Qm…)." };
        command.Arguments.Add(cid);
        foreach (var option in new Option[] { bootstrap, count, timeout, host.Key, host.Psk, host.Verbose })
        {
            command.Options.Add(option);
        }
        command.SetAction((parse, cancel) => CliSupport.RunClientAsync(parse, timeout, async ct =>
        {
            var content = ContentId.Parse(parse.GetValue(cid)!);
            int max = parse.GetValue(count);
            if (max is < 1 or > 1000)
            {
                throw new ArgumentException("--count must be between 1 and 1000.");
            }
            await using var client = await DhtClient.StartAsync(parse, host, ParseBootstrap(parse.GetValue(bootstrap)), ct);
            var providers = await client.Kad.FindProvidersAsync(content.Multihash, max, ct);
            if (providers.Count == 0)
            {
                throw new DhtNotFoundException($"no provider of {content.Text} found");
            }
            foreach (var provider in providers)
            {
                var known = provider.Addresses.Count > 0 ? provider.Addresses : client.Host.PeerStore.Get(provider.Peer)?.Addresses ?? [];
                WritePeer("PROVIDER", provider.Peer, known);
            }
            return 0;
        }, cancel));
        return command;
    }

    private static Command CreateFindPeer()
    {
        var command = new Command("find-peer", "Find the addresses of <peer id>. Prints 'PEER <peer id> <multiaddr>…'; exit 6 when no address is found.");
        var bootstrap = BootstrapOption(required: true);
        var timeout = CliSupport.TimeoutOption();
        var host = new NodeHostOptions();
        var peerId = new Argument<string>("peer id") { Description = "The peer to look up (12D3KooW…, Qm…)." };
        command.Arguments.Add(peerId);
        foreach (var option in new Option[] { bootstrap, timeout, host.Key, host.Psk, host.Verbose })
        {
            command.Options.Add(option);
        }
        command.SetAction((parse, cancel) => CliSupport.RunClientAsync(parse, timeout, async ct =>
        {
            string text = parse.GetValue(peerId)!;
            if (!PeerId.TryParse(text, out var target))
            {
                throw new ArgumentException($"bad peer id '{text}': expected base58btc (12D3KooW…, Qm…) or a CIDv1 (bafz…).");
            }
            await using var client = await DhtClient.StartAsync(parse, host, ParseBootstrap(parse.GetValue(bootstrap)), ct);
            var addresses = await client.Kad.FindPeerAsync(target, ct);
            if (addresses.Count == 0)
            {
                throw new PeerNotFoundException(target, $"no address of {target} found in the DHT");
            }
            WritePeer("PEER", target, addresses);
            return 0;
        }, cancel));
        return command;
    }

    /// <summary>The <c>--bootstrap</c> addresses; each must name its peer.</summary>
    /// <exception cref="ArgumentException">A malformed address or one without <c>/p2p/&lt;id&gt;</c>.</exception>
    internal static Multiaddr[] ParseBootstrap(string[]? values)
    {
        var peers = (values ?? []).Select(CliSupport.ParseAddress).ToArray();
        if (peers.FirstOrDefault(a => a.GetPeerId() is null) is { } noId)
        {
            throw new ArgumentException($"--bootstrap {noId} must end in /p2p/<peer id>.");
        }
        return peers;
    }

    /// <summary>
    /// Connects to the bootstrap peers, waits until identify shows one of them serves the DHT, and looks up our own id
    /// (which fills the routing table). When every dial fails, the first failure is thrown as it is, so that the exit
    /// code says why (unreachable, refused, …).
    /// </summary>
    /// <exception cref="ProtocolNotSupportedException">No bootstrap peer serves the DHT protocol.</exception>
    internal static async Task JoinAsync(P2PHost host, KadDht kad, Multiaddr[] bootstrapPeers, CancellationToken cancellationToken)
    {
        var failures = await Task.WhenAll(bootstrapPeers.Select(async peer =>
        {
            try
            {
                await host.DialAsync(peer, cancellationToken);
                return null;
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is not ArgumentException)
            {
                return ExceptionDispatchInfo.Capture(e);
            }
        }));
        if (failures.All(f => f is not null))
        {
            failures[0]!.Throw();
        }
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(DhtPeerWait);
        using var poll = new PeriodicTimer(TimeSpan.FromMilliseconds(50));
        try
        {
            while (kad.RoutingTableSize == 0)
            {
                await poll.WaitForNextTickAsync(deadline.Token);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ProtocolNotSupportedException(
                $"no --bootstrap peer serves the DHT ({string.Join(", ", bootstrapPeers.Select(p => p.GetPeerId()))} do not list /ipfs/kad/1.0.0; is it a DHT server?)");
        }
        await kad.BootstrapAsync(cancellationToken);
    }

    private static void WritePeer(string kind, PeerId peer, IEnumerable<Multiaddr> addresses)
    {
        string[] texts = [.. addresses.Select(a => a.WithoutPeerId().ToString()).Distinct(StringComparer.Ordinal)];
        Write(texts.Length == 0 ? $"{kind} {peer}" : $"{kind} {peer} {string.Join(' ', texts)}",
            new DhtLine(kind.ToLowerInvariant()) { Peer = peer.ToString(), Addresses = texts });
    }

    private static void Write(string text, DhtLine json)
    {
        Console.Out.WriteLine(CliSupport.JsonOutput ? JsonSerializer.Serialize(json, DhtJsonContext.Default.DhtLine) : text);
        Console.Out.Flush();
    }

    /// <summary>A host that does not listen and a client-mode DHT joined through the bootstrap peers, for one lookup.</summary>
    private sealed class DhtClient : IAsyncDisposable
    {
        private readonly ILoggerFactory _logging;

        private DhtClient(P2PHost host, KadDht kad, ILoggerFactory logging)
        {
            Host = host;
            Kad = kad;
            _logging = logging;
        }

        public P2PHost Host { get; }

        public KadDht Kad { get; }

        public static async Task<DhtClient> StartAsync(ParseResult parse, NodeHostOptions options, Multiaddr[] bootstrapPeers, CancellationToken cancellationToken)
        {
            var psk = options.ReadSwarmKey(parse);
            var identity = CliSupport.LoadOrCreateKey(parse.GetValue(options.Key));
            var logging = CliSupport.CreateLoggerFactory(parse.GetValue(options.Verbose));
            var host = CliSupport.CreateHost(identity, logging, o => o.PrivateNetworkKey = psk);
            var kad = new KadDht(host, new KadDhtOptions { Mode = KadDhtMode.Client }, logging.CreateLogger<KadDht>());
            var client = new DhtClient(host, kad, logging);
            try
            {
                kad.Start();
                await JoinAsync(host, kad, bootstrapPeers, cancellationToken);
                return client;
            }
            catch
            {
                await client.DisposeAsync();
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            await Kad.DisposeAsync();
            await Host.DisposeAsync();
            Host.Options.Identity?.Dispose();
            _logging.Dispose();
        }
    }
}

/// <summary>With <c>--json</c>: one DHT result per line.</summary>
internal sealed record DhtLine([property: JsonPropertyName("type")] string Type)
{
    [JsonPropertyName("address")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Address { get; init; }

    [JsonPropertyName("cid")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Cid { get; init; }

    [JsonPropertyName("peer")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Peer { get; init; }

    [JsonPropertyName("addresses")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? Addresses { get; init; }
}

[JsonSerializable(typeof(DhtLine))]
internal sealed partial class DhtJsonContext : JsonSerializerContext;
