using System.CommandLine;
using Microsoft.Extensions.Logging;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Protocols.Relay;

namespace P2PNet.Cli.Commands;

/// <summary><c>p2pnet node</c>'s NAT-traversal options: <c>--relay-service</c> (serve circuit relay v2) and
/// <c>--relay MA</c> (reserve on a relay, printing <c>RESERVED &lt;circuit multiaddr&gt;</c>).</summary>
internal sealed class RelayCliOptions
{
    private readonly Option<bool> _service = new("--relay-service") { Description = "Serve circuit relay v2 (/libp2p/circuit/relay/0.2.0/hop): other peers reserve slots and are reached through this node." };
    private readonly Option<string[]> _relays = new("--relay") { Description = "Relay multiaddr ending in /p2p/<id> (repeatable): reserve a slot there, renewed until exit; prints 'RESERVED <circuit multiaddr>' per address." };
    private readonly Option<long?> _dataLimit = new("--relay-data-limit") { Description = "With --relay-service: bytes a circuit may carry each way (0: no limit). Default 131072 (the spec's 128 KiB)." };
    private readonly Option<double?> _duration = new("--relay-duration") { Description = "With --relay-service: seconds a circuit may stay open (0: no limit). Default 120." };
    private readonly Option<bool> _autoRelay = new("--auto-relay") { Description = "Reserve on the --relay relays (and on connected peers that serve the hop protocol) only while AutoNAT says this node is private (with --autonat; without it, always), at most two at a time, moving when a relay goes away; prints 'RESERVED <circuit multiaddr>' and 'UNRESERVED <circuit multiaddr>' as they come and go." };
    private readonly Option<bool> _refuseRelayed = new("--refuse-relayed") { Description = "Refuse relayed connections through our reservations (the relay answers PERMISSION_DENIED)." };

    public void AddTo(Command command)
    {
        command.Options.Add(_service);
        command.Options.Add(_relays);
        command.Options.Add(_dataLimit);
        command.Options.Add(_duration);
        command.Options.Add(_refuseRelayed);
        command.Options.Add(_autoRelay);
    }

    /// <summary>Starts what the options ask for and prints the reservations; disposing stops it all.</summary>
    public static async Task<IAsyncDisposable> StartAsync(ParseResult parse, RelayCliOptions options, P2PHost host, ILoggerFactory logging,
        Lock output, CancellationToken cancellationToken, bool autoNat = false)
    {
        var relays = (parse.GetValue(options._relays) ?? []).Select(CliSupport.ParseAddress).ToArray();
        if (relays.FirstOrDefault(a => a.GetPeerId() is null || a.Contains(MultiaddrProtocol.P2pCircuit)) is { } bad)
        {
            throw new ArgumentException($"--relay {bad} must be a direct address ending in /p2p/<relay id>.");
        }
        var started = new Started();
        try
        {
            if (parse.GetValue(options._service))
            {
                var serviceOptions = new RelayServiceOptions();
                if (parse.GetValue(options._dataLimit) is { } limit)
                {
                    serviceOptions.CircuitDataLimit = limit >= 0 ? limit : throw new ArgumentException("--relay-data-limit must not be negative.");
                }
                if (parse.GetValue(options._duration) is { } seconds)
                {
                    serviceOptions.CircuitDuration = seconds >= 0 && !double.IsNaN(seconds) && seconds < int.MaxValue
                        ? TimeSpan.FromSeconds(seconds)
                        : throw new ArgumentException("--relay-duration must be a non-negative number of seconds.");
                }
                started.Service = new RelayService(host, serviceOptions, logging.CreateLogger<RelayService>());
                started.Service.Start();
            }
            started.Client = new RelayClient(host, new RelayClientOptions { AcceptRelayedConnections = !parse.GetValue(options._refuseRelayed) },
                logging.CreateLogger<RelayClient>());
            started.Client.Start(); // accepts relayed connections even before any reservation of ours (e.g. a relay that knows us)
            if (parse.GetValue(options._autoRelay))
            {
                started.Addresses = host.Events.Subscribe<LocalAddressesUpdated>(e =>
                {
                    lock (output)
                    {
                        foreach (var (kind, list) in (ReadOnlySpan<(string, IReadOnlyList<Multiaddr>)>)[("RESERVED", e.Added), ("UNRESERVED", e.Removed)])
                        {
                            foreach (var circuit in list.Where(a => a.Contains(MultiaddrProtocol.P2pCircuit)))
                            {
                                CliSupport.WriteLine($"{kind} {circuit}", new EventLine(kind.ToLowerInvariant()) { Address = circuit.ToString() });
                            }
                        }
                        Console.Out.Flush();
                    }
                });
                var autoOptions = new AutoRelayOptions { OnlyWhenPrivate = autoNat };
                foreach (var relay in relays)
                {
                    autoOptions.StaticRelays.Add(relay);
                }
                started.AutoRelay = new AutoRelay(host, started.Client, autoOptions, logging.CreateLogger<AutoRelay>());
                started.AutoRelay.Start();
                return started;
            }
            foreach (var relay in relays)
            {
                var reservation = await started.Client.ReserveAsync(relay, cancellationToken);
                lock (output)
                {
                    foreach (var circuit in reservation.CircuitAddresses)
                    {
                        CliSupport.WriteLine($"RESERVED {circuit}", new EventLine("reserved") { Peer = reservation.Relay.ToString(), Address = circuit.ToString() });
                    }
                }
            }
            return started;
        }
        catch
        {
            await started.DisposeAsync();
            throw;
        }
    }

    private sealed class Started : IAsyncDisposable
    {
        public RelayService? Service { get; set; }

        public RelayClient? Client { get; set; }

        public AutoRelay? AutoRelay { get; set; }

        public IDisposable? Addresses { get; set; }

        public async ValueTask DisposeAsync()
        {
            Addresses?.Dispose();
            if (AutoRelay is not null)
            {
                await AutoRelay.DisposeAsync();
            }
            if (Client is not null)
            {
                await Client.DisposeAsync();
            }
            if (Service is not null)
            {
                await Service.DisposeAsync();
            }
        }
    }
}
