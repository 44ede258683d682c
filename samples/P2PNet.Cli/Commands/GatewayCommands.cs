using System.CommandLine;
using System.Net;
using P2PNet.Peers;
using P2PNet.Proxy.Outbound;
using P2PNet.Security.Pnet;
using P2PNet.Vpn.Gateway;

namespace P2PNet.Cli.Commands;

/// <summary><c>p2pnet gateway serve</c> (an outbound gateway node) and <c>p2pnet net-api</c> (the requestor's net-api).</summary>
internal static class GatewayCommands
{
    public static Command CreateGateway()
    {
        var gateway = new Command("gateway", "An outbound gateway: VPN members reach the Internet through this node.");
        gateway.Subcommands.Add(CreateServe());
        return gateway;
    }

    private static Command CreateServe()
    {
        var serve = new Command("serve", "Serve as an outbound gateway: join the VPNs allowed requestors invite this node into (net-api POST …/nodes) "
            + "and forward their members' traffic to the Internet. Prints 'GATEWAY UP <multiaddr>' per listen address. Kernel mode (default) needs "
            + "root and nft (a TUN per VPN, IP forwarding, masquerade); --rootless terminates flows in user space instead.");
        var node = new NodeHostOptions();
        var (key, listen, psk, verbose) = (node.Key, node.Listen, node.Psk, node.Verbose);
        var requestors = new Option<string[]>("--allow-requestor") { Description = "A peer id allowed to use this gateway (repeatable).", Required = true };
        var rootless = new Option<bool>("--rootless") { Description = "No TUN, no root: terminate TCP, UDP and ping in user space and re-originate them with ordinary sockets." };
        var allow = new Option<string[]>("--allow") { Description = "CIDR allowed although the default policy refuses it (private, loopback, link-local, CGNAT, multicast…; repeatable)." };
        var deny = new Option<string[]>("--deny") { Description = "CIDR refused in addition to the default list (repeatable)." };
        var destinations = new Option<string[]>("--allow-destination") { Description = "CIDR or CIDR:PORT: when given, only these destinations are reachable (repeatable)." };
        var bandwidth = new Option<long>("--bandwidth") { Description = "Bytes per second per requestor, both directions (0: no limit).", DefaultValueFactory = _ => 0 };
        var api = new Option<string?>("--api") { Description = "Serve the status API (GET /status: usage per requestor) on IP:PORT, e.g. 127.0.0.1:7467." };
        foreach (var option in new Option[] { key, listen, requestors, rootless, allow, deny, destinations, bandwidth, api, psk, verbose })
        {
            serve.Options.Add(option);
        }
        serve.SetAction((parse, ct) => CliSupport.RunAsync(async () =>
        {
            var options = new OutboundGatewayOptions { Rootless = parse.GetValue(rootless) };
            foreach (string text in parse.GetValue(requestors)!)
            {
                options.Egress.AllowedRequestors.Add(PeerId.TryParse(text, out var peer) ? peer : throw new ArgumentException($"bad --allow-requestor '{text}': expected a peer id."));
            }
            foreach (string text in parse.GetValue(allow) ?? [])
            {
                options.Egress.AllowedNetworks.Add(ParseCidr(text, "--allow"));
            }
            foreach (string text in parse.GetValue(deny) ?? [])
            {
                options.Egress.DeniedNetworks.Add(ParseCidr(text, "--deny"));
            }
            foreach (string text in parse.GetValue(destinations) ?? [])
            {
                try
                {
                    options.Egress.AllowedDestinations.Add(VpnEgressDestination.Parse(text));
                }
                catch (FormatException e)
                {
                    throw new ArgumentException("bad --allow-destination " + e.Message, e);
                }
            }
            options.Egress.BytesPerSecondPerRequestor = parse.GetValue(bandwidth) >= 0 ? parse.GetValue(bandwidth) : throw new ArgumentException("--bandwidth must be 0 or more.");
            IPEndPoint? apiEndPoint = parse.GetValue(api) is { } apiText
                ? IPEndPoint.TryParse(apiText, out var parsedApi) ? parsedApi : throw new ArgumentException($"bad --api '{apiText}': expected IP:PORT.")
                : null;
            var parsed = node.ListenAddresses(parse);
            SwarmKey? swarmKey = node.ReadSwarmKey(parse);

            using var identity = CliSupport.LoadOrCreateKey(parse.GetValue(key));
            using var logging = CliSupport.CreateLoggerFactory(parse.GetValue(verbose));
            await using var host = CliSupport.CreateHost(identity, logging, o => o.PrivateNetworkKey = swarmKey);
            var shutdown = CliSupport.WaitForShutdownAsync(ct);
            foreach (var a in parsed)
            {
                await host.ListenAsync(a, ct);
            }
            await using var gatewayNode = new OutboundGateway(host, options, logging);
            gatewayNode.Start();
            await using var status = apiEndPoint is null ? null : new OutboundGatewayStatusServer(gatewayNode, apiEndPoint, logging);
            if (status is not null)
            {
                await status.StartAsync(ct);
                string url = status.Url.ToString().TrimEnd('/');
                CliSupport.WriteLine($"STATUS API {url}", new EventLine("status_api") { Url = url });
            }
            foreach (var bound in host.ListenAddresses)
            {
                string full = CliSupport.DialableAddress(host, bound);
                CliSupport.WriteLine($"GATEWAY UP {full}", new EventLine("gateway_up") { Address = full });
            }
            await shutdown;
            await Console.Error.WriteLineAsync("GATEWAY USAGE " + System.Text.Encoding.UTF8.GetString(gatewayNode.GetStatusJson()));
            return ExitCodes.Ok;
        }));
        return serve;
    }

    public static Command CreateNetApi()
    {
        var netApi = new Command("net-api", "Serve the net-api (REST + raw IPv4 websocket) for networks this node coordinates. Prints 'NET-API <url>'.");
        var node = new NodeHostOptions();
        var (key, listen, psk, verbose) = (node.Key, node.Listen, node.Psk, node.Verbose);
        var api = new Option<string>("--api") { Description = "Where the net-api listens, IP:PORT.", DefaultValueFactory = _ => "127.0.0.1:7465" };
        var peers = new Option<string[]>("--peer") { Description = "ID=MULTIADDR: where a node added with POST …/nodes can be dialed (repeatable)." };
        foreach (var option in new Option[] { key, listen, api, peers, psk, verbose })
        {
            netApi.Options.Add(option);
        }
        netApi.SetAction((parse, ct) => CliSupport.RunAsync(async () =>
        {
            if (!IPEndPoint.TryParse(parse.GetValue(api)!, out var apiEndPoint))
            {
                throw new ArgumentException($"bad --api '{parse.GetValue(api)}': expected IP:PORT, e.g. 127.0.0.1:7465.");
            }
            var parsed = node.ListenAddresses(parse);
            SwarmKey? swarmKey = node.ReadSwarmKey(parse);

            using var identity = CliSupport.LoadOrCreateKey(parse.GetValue(key));
            using var logging = CliSupport.CreateLoggerFactory(parse.GetValue(verbose));
            await using var host = CliSupport.CreateHost(identity, logging, o => o.PrivateNetworkKey = swarmKey);
            var shutdown = CliSupport.WaitForShutdownAsync(ct);
            foreach (var a in parsed)
            {
                await host.ListenAsync(a, ct);
            }
            CliSupport.AddKnownPeers(host, parse.GetValue(peers) ?? []);
            await using var nets = new NetApi(host, logging);
            await using var server = new NetApiServer(nets, apiEndPoint, logging);
            await server.StartAsync(ct);
            foreach (var bound in host.ListenAddresses)
            {
                string full = CliSupport.DialableAddress(host, bound);
                CliSupport.WriteLine($"LISTEN {full}", new EventLine("listen") { Address = full });
            }
            string url = server.Url.ToString().TrimEnd('/');
            CliSupport.WriteLine($"NET-API {url}", new EventLine("net_api") { Url = url });
            await shutdown;
            return ExitCodes.Ok;
        }));
        return netApi;
    }

    private static IPNetwork ParseCidr(string text, string option) =>
        IPNetwork.TryParse(text, out var network) ? network : throw new ArgumentException($"bad {option} '{text}': expected CIDR, e.g. 10.0.0.0/8.");
}
