using System.CommandLine;
using Microsoft.Extensions.Logging;
using P2PNet.Host;
using P2PNet.Protocols.Nat;

namespace P2PNet.Cli.Commands;

/// <summary>
/// NAT detection and hole punching for <c>p2pnet node</c> (and the listening form of ping/echo/perf):
/// <c>--autonat</c> prints <c>REACHABILITY public|private|unknown</c> on each change, <c>--autonat-service</c> serves
/// dial-backs, hole punching (on unless <c>--no-hole-punching</c>) prints <c>DIRECT &lt;peer&gt; &lt;multiaddr&gt;</c>
/// when a relayed connection becomes direct (<c>NO-DIRECT &lt;peer&gt; &lt;reason&gt;</c> when it stays relayed), and
/// the NAT's mapping behaviour prints <c>NAT tcp cone|symmetric</c>.
/// </summary>
internal sealed class NatCliOptions
{
    private readonly Option<bool> _autoNat = new("--autonat") { Description = "Find out whether this node is reachable (AutoNAT v2, v1 with peers that only speak it): prints 'REACHABILITY public|private|unknown' each time it changes." };
    private readonly Option<bool> _autoNatService = new("--autonat-service") { Description = "Serve AutoNAT v2 and v1: dial peers back so they learn their reachability (public addresses only unless --autonat-allow-private)." };
    private readonly Option<bool> _allowPrivate = new("--autonat-allow-private") { Description = "AutoNAT client and service test private-range (and loopback) addresses too: for labs whose public side uses private or documentation ranges." };
    private readonly Option<bool> _noHolePunching = new("--no-hole-punching") { Description = "Do not upgrade relayed connections with DCUtR hole punching (on by default; it dials out from the listening port)." };
    private readonly Option<int?> _observers = new("--observed-threshold") { Description = "Distinct peers that must observe one address before it is advertised and tested. Default 2." };

    public void AddTo(Command command, bool listening)
    {
        if (listening)
        {
            command.Options.Add(_autoNat);
            command.Options.Add(_autoNatService);
            command.Options.Add(_allowPrivate);
            command.Options.Add(_observers);
        }
        command.Options.Add(_noHolePunching);
    }

    /// <summary>Whether <c>--autonat</c> was given.</summary>
    public bool AutoNat(ParseResult parse) => parse.GetValue(_autoNat);

    /// <summary>Host settings the options imply: the listening port is reused for dials unless hole punching is off.</summary>
    public void Configure(ParseResult parse, P2PHostOptions options)
    {
        options.Tcp.PortReuse = !parse.GetValue(_noHolePunching);
        if (parse.GetValue(_observers) is { } threshold)
        {
            options.ObservedAddresses.ActivationThreshold = threshold >= 1 ? threshold : throw new ArgumentException("--observed-threshold must be at least 1.");
        }
    }

    /// <summary>Starts what the options ask for and prints its events; disposing stops it all.</summary>
    public async Task<IAsyncDisposable> StartAsync(ParseResult parse, P2PHost host, ILoggerFactory logging, Lock output)
    {
        var started = new Started();
        bool allowPrivate = parse.GetValue(_allowPrivate);
        started.Subscriptions.Add(host.Events.Subscribe<NatDeviceTypeChanged>(e => Print(output, $"NAT {e.TransportProtocol} {Lower(e.DeviceType)}",
            new EventLine("nat") { Message = $"{e.TransportProtocol} {Lower(e.DeviceType)}" })));
        if (!parse.GetValue(_noHolePunching))
        {
            started.Subscriptions.Add(host.Events.Subscribe<HolePunchSucceeded>(e => Print(output, $"DIRECT {e.Peer} {e.Address}",
                new EventLine("direct") { Peer = e.Peer.ToString(), Address = e.Address.ToString(), Message = $"{e.Elapsed.TotalMilliseconds:0} ms, attempt {e.Attempt}" })));
            started.Subscriptions.Add(host.Events.Subscribe<HolePunchFailed>(e => Print(output, $"NO-DIRECT {e.Peer} {e.Reason}",
                new EventLine("no-direct") { Peer = e.Peer.ToString(), Message = e.Reason })));
            started.HolePunch = new HolePunchService(host, null, logging.CreateLogger<HolePunchService>());
            started.HolePunch.Start();
        }
        if (parse.GetValue(_autoNatService))
        {
            started.Service = new AutoNatService(host, new AutoNatServiceOptions { AllowPrivateAddresses = allowPrivate }, logging.CreateLogger<AutoNatService>());
            started.Service.Start();
        }
        if (parse.GetValue(_autoNat))
        {
            started.Subscriptions.Add(host.Events.Subscribe<LocalReachabilityChanged>(e => Print(output, $"REACHABILITY {Lower(e.Reachability)}",
                new EventLine("reachability") { Message = Lower(e.Reachability) })));
            started.Client = new AutoNatClient(host, new AutoNatClientOptions { AllowPrivateAddresses = allowPrivate }, logging.CreateLogger<AutoNatClient>());
            started.Client.Start();
        }
        await Task.CompletedTask;
        return started;
    }

    private static string Lower<T>(T value) where T : struct, Enum => value.ToString().ToLowerInvariant();

    private static void Print(Lock output, string text, EventLine json)
    {
        lock (output)
        {
            CliSupport.WriteLine(text, json);
            Console.Out.Flush();
        }
    }

    private sealed class Started : IAsyncDisposable
    {
        public List<IDisposable> Subscriptions { get; } = [];

        public AutoNatService? Service { get; set; }

        public AutoNatClient? Client { get; set; }

        public HolePunchService? HolePunch { get; set; }

        public async ValueTask DisposeAsync()
        {
            foreach (var subscription in Subscriptions)
            {
                subscription.Dispose();
            }
            if (Client is not null)
            {
                await Client.DisposeAsync();
            }
            if (HolePunch is not null)
            {
                await HolePunch.DisposeAsync();
            }
            if (Service is not null)
            {
                await Service.DisposeAsync();
            }
        }
    }
}
