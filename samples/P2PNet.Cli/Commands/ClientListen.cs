using System.CommandLine;
using Microsoft.Extensions.Logging;
using P2PNet.Host;
using P2PNet.Protocols.Nat;

namespace P2PNet.Cli.Commands;

/// <summary>
/// ping/echo/perf's listening form: <c>--listen MA</c> makes the client a full peer (it listens, dials out from that
/// port and answers DCUtR), so a connection through a relay can become direct; <c>--direct-wait SECONDS</c> waits that
/// long for the upgrade (printing <c>DIRECT &lt;peer&gt; &lt;multiaddr&gt;</c>) before the run, which then takes the
/// direct connection, or the relayed one if none came.
/// </summary>
internal static class ClientListen
{
    private static readonly Option<string[]> Listen = new("--listen") { Description = "Also listen on this multiaddr (repeatable): dials leave from its port and DCUtR can upgrade a relayed connection." };
    private static readonly Option<double> DirectWait = new("--direct-wait") { Description = "With --listen and a circuit address: seconds to wait for a direct connection before the run (0: none).", DefaultValueFactory = _ => 0 };
    private static readonly Option<bool> NoHolePunching = new("--no-hole-punching") { Description = "With --listen: do not answer hole punching." };

    public static void AddTo(Command command)
    {
        command.Options.Add(Listen);
        command.Options.Add(DirectWait);
        command.Options.Add(NoHolePunching);
    }

    private static bool Listening(ParseResult parse) => parse.GetValue(Listen) is { Length: > 0 };

    public static void Configure(ParseResult parse, P2PHostOptions options) =>
        options.Tcp.PortReuse = Listening(parse) && !parse.GetValue(NoHolePunching);

    /// <summary>Listens (printing nothing: the run's output stays as it was) and starts hole punching.</summary>
    public static async Task<IAsyncDisposable> StartAsync(ParseResult parse, P2PHost host, ILoggerFactory logging)
    {
        double wait = parse.GetValue(DirectWait);
        if (wait < 0 || double.IsNaN(wait) || wait > 3600)
        {
            throw new ArgumentException("--direct-wait must be between 0 and 3600 seconds.");
        }
        if (!Listening(parse))
        {
            return new Nothing();
        }
        foreach (var address in parse.GetValue(Listen)!)
        {
            await host.ListenAsync(CliSupport.ParseAddress(address));
        }
        if (parse.GetValue(NoHolePunching))
        {
            return new Nothing();
        }
        var service = new HolePunchService(host, null, logging.CreateLogger<HolePunchService>());
        service.Start();
        return service;
    }

    /// <summary>Waits up to --direct-wait for a relayed <paramref name="connection"/> to be upgraded; returns the
    /// connection to use.</summary>
    public static async Task<P2PConnection> AwaitDirectAsync(ParseResult parse, P2PHost host, P2PConnection connection, CancellationToken cancellationToken)
    {
        double wait = parse.GetValue(DirectWait);
        if (!connection.IsLimited || wait <= 0 || !Listening(parse) || parse.GetValue(NoHolePunching))
        {
            return connection;
        }
        // Ours (DCUtR answered) or the peer's own direct dial (its unilateral upgrade): any direct connection will do.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(TimeSpan.FromSeconds(wait));
        try
        {
            P2PConnection? upgraded;
            while ((upgraded = host.GetConnections(connection.RemotePeer).LastOrDefault(c => !c.IsLimited && !c.Closed.IsCompleted)) is null)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50), deadline.Token);
            }
            CliSupport.WriteLine($"DIRECT {upgraded.RemotePeer} {upgraded.RemoteAddress}",
                new EventLine("direct") { Peer = upgraded.RemotePeer.ToString(), Address = upgraded.RemoteAddress.ToString() });
            Console.Out.Flush();
            return upgraded;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            CliSupport.WriteLine($"NO-DIRECT {connection.RemotePeer} no direct connection within {wait:0.#} s",
                new EventLine("no-direct") { Peer = connection.RemotePeer.ToString(), Message = $"no direct connection within {wait:0.#} s" });
            Console.Out.Flush();
            return connection;
        }
    }

    private sealed class Nothing : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
