using System.CommandLine;
using System.Net;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using P2PNet.Proxy.UdpBridge;

namespace P2PNet.Cli.Commands;

/// <summary><c>p2pnet bridge …</c>: bridges between transports, so far WebSocket ↔ UDP for browsers.</summary>
internal static class BridgeCommands
{
    public static Command Create()
    {
        var bridge = new Command("bridge", "Run bridges that let clients without a transport reach a network over another.");
        bridge.Subcommands.Add(CreateWebSocketUdp());
        return bridge;
    }

    private static Command CreateWebSocketUdp()
    {
        var listen = new Option<string>("--listen")
        {
            Description = "HOST:PORT to accept WebSocket clients on; port 0 picks a free port.",
            DefaultValueFactory = _ => "127.0.0.1:8080",
        };
        var path = new Option<string>("--path")
        {
            Description = "The WebSocket endpoint's path.",
            DefaultValueFactory = _ => "/udp",
        };
        var allow = new Option<string[]>("--allow")
        {
            Description = "A CIDR (or address) clients may send to although the default policy refuses it; repeatable.",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var deny = new Option<string[]>("--deny")
        {
            Description = "A CIDR (or address) clients may not send to; repeatable. The most specific --allow/--deny wins.",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var token = new Option<string?>("--token")
        {
            Description = "Require this bearer token: header 'Authorization: Bearer T', subprotocol entry 'p2pnet.token.T' beside "
                + "'p2pnet.udp', or query '?access_token=T'.",
        };
        var origins = new Option<string[]>("--origin")
        {
            Description = "An Origin (scheme://host[:port]) allowed to connect; repeatable. Default: any origin.",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var externalAddress = new Option<string?>("--external-address")
        {
            Description = "The address announced to browsers as their public UDP address (for a bridge behind NAT).",
        };
        var maxClients = new Option<int>("--max-clients")
        {
            Description = "Most concurrent clients.",
            DefaultValueFactory = _ => new UdpBridgeOptions().MaxClients,
        };

        var maxClientsPerAddress = new Option<int>("--max-clients-per-address")
        {
            Description = "Most concurrent clients from one IPv4 address or IPv6 /64.",
            DefaultValueFactory = _ => new UdpBridgeOptions().MaxClientsPerAddress,
        };

        var command = new Command("ws-udp",
            "Bridge WebSocket clients (browsers) to UDP: each client gets its own UDP socket. Prints 'BRIDGE ws://HOST:PORT/PATH' "
            + "when ready and runs until SIGINT/SIGTERM. Wire format: docs/bridge.md.");
        command.Options.Add(listen);
        command.Options.Add(path);
        command.Options.Add(allow);
        command.Options.Add(deny);
        command.Options.Add(token);
        command.Options.Add(origins);
        command.Options.Add(externalAddress);
        command.Options.Add(maxClients);
        command.Options.Add(maxClientsPerAddress);

        command.SetAction(async (parseResult, cancellationToken) =>
        {
            if (!TryParseListen(parseResult.GetValue(listen)!, out IPEndPoint? endPoint))
            {
                Console.Error.WriteLine($"--listen: '{parseResult.GetValue(listen)}' is not HOST:PORT (for example 127.0.0.1:8080 or [::]:8080).");
                return 2;
            }

            var allowed = new List<IPNetwork>();
            var denied = new List<IPNetwork>();
            if (!TryParseNetworks("--allow", parseResult.GetValue(allow), allowed) || !TryParseNetworks("--deny", parseResult.GetValue(deny), denied))
            {
                return 2;
            }

            IPAddress? external = null;
            string? externalText = parseResult.GetValue(externalAddress);
            if (externalText is not null && !IPAddress.TryParse(externalText, out external))
            {
                Console.Error.WriteLine($"--external-address: '{externalText}' is not an IP address.");
                return 2;
            }

            string bridgePath = parseResult.GetValue(path)!;
            if (!bridgePath.StartsWith('/'))
            {
                bridgePath = "/" + bridgePath;
            }

            using ILoggerFactory loggerFactory = LoggerFactory.Create(logging => logging
                .SetMinimumLevel(LogLevel.Information)
                .AddSimpleConsole(console => console.SingleLine = true)
                .AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace));

            await using var server = new UdpBridgeServer(endPoint, options =>
            {
                foreach (IPNetwork network in allowed)
                {
                    options.AllowedNetworks.Add(network);
                }

                foreach (IPNetwork network in denied)
                {
                    options.DeniedNetworks.Add(network);
                }

                foreach (string origin in parseResult.GetValue(origins) ?? [])
                {
                    options.AllowedOrigins.Add(origin);
                }

                options.BearerToken = parseResult.GetValue(token);
                options.ExternalAddress = external;
                options.MaxClients = parseResult.GetValue(maxClients);
                options.MaxClientsPerAddress = parseResult.GetValue(maxClientsPerAddress);

                // The command line gives a terminating process about two seconds; browsers answer a close at once.
                options.CloseTimeout = TimeSpan.FromSeconds(1);
            }, bridgePath, loggerFactory);

            try
            {
                await server.StartAsync(cancellationToken);
            }
            catch (IOException e)
            {
                Console.Error.WriteLine($"Cannot listen on {endPoint}: {e.Message}");
                return 1;
            }

            CliSupport.WriteLine($"BRIDGE {server.Url}", new EventLine("bridge") { Url = server.Url.ToString() });
            Console.Out.Flush();

            await WaitForTerminationAsync(cancellationToken);

            using var stopDeadline = new CancellationTokenSource(TimeSpan.FromSeconds(1.5));
            await server.StopAsync(stopDeadline.Token);
            return 0;
        });
        return command;
    }

    /// <summary>
    /// Waits for SIGINT or SIGTERM (or the invocation's cancellation). The signals are handled here, not left to the
    /// runtime's default, so the bridge closes every client with 1001 and the process exits 0.
    /// </summary>
    private static async Task WaitForTerminationAsync(CancellationToken cancellationToken)
    {
        using var terminated = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            terminated.Cancel();
        }

        using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        try
        {
            await Task.Delay(Timeout.Infinite, terminated.Token);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static bool TryParseListen(string text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IPEndPoint? endPoint)
    {
        if (text.StartsWith("localhost:", StringComparison.OrdinalIgnoreCase))
        {
            text = "127.0.0.1" + text["localhost".Length..];
        }

        return IPEndPoint.TryParse(text, out endPoint) && text.Contains(':', StringComparison.Ordinal);
    }

    private static bool TryParseNetworks(string option, string[]? values, List<IPNetwork> networks)
    {
        foreach (string value in values ?? [])
        {
            string cidr = value.Contains('/', StringComparison.Ordinal) ? value
                : IPAddress.TryParse(value, out IPAddress? single) ? $"{single}/{(single.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128)}"
                : value;
            if (!IPNetwork.TryParse(cidr, out IPNetwork network))
            {
                Console.Error.WriteLine($"{option}: '{value}' is not a CIDR such as 127.0.0.0/8 or an address.");
                return false;
            }

            networks.Add(network);
        }

        return true;
    }
}
