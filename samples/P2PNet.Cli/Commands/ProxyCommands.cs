using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using P2PNet.Multiformats;
using P2PNet.Proxy.Inbound;
using P2PNet.Security.Pnet;
using P2PNet.Vpn;
using P2PNet.Vpn.NetStack;

namespace P2PNet.Cli.Commands;

/// <summary><c>p2pnet proxy …</c>: the inbound proxy (<c>proxy inbound</c>) and a client for every endpoint of its
/// management API (<c>proxy gateway|probe|status|metrics</c>).</summary>
internal static class ProxyCommands
{
    public static Command Create()
    {
        var proxy = new Command("proxy", "The inbound proxy: public TCP/UDP sockets forwarded into a VPN, and its management API client.");
        proxy.Subcommands.Add(CreateInbound());
        proxy.Subcommands.Add(CreateGateway());
        proxy.Subcommands.Add(CreateProbe());
        proxy.Subcommands.Add(CreateStatus());
        proxy.Subcommands.Add(CreateMetrics());
        var openApi = ClientCommand("openapi", "Print the management API's OpenAPI document (/openapi/v1.json).");
        openApi.SetAction((parse, ct) => RunClientAsync(parse, client => PrintAsync(client, "/openapi/v1.json", ct), ct));
        proxy.Subcommands.Add(openApi);
        return proxy;
    }

    private static Command CreateInbound()
    {
        var inbound = new Command("inbound", "Run an inbound proxy: join VPNs through a user-space TCP/IP stack (no TUN, no root) and serve the "
            + "management API. Prints 'VPN ID <id>' and 'VPN UP <ip>/<prefix> (user space)' per VPN, then 'PROXY API <url>'. Runs until SIGINT/SIGTERM.");
        var node = new NodeHostOptions("Multiaddr to listen on for libp2p (repeatable). Default /ip4/0.0.0.0/tcp/0.");
        var (key, listen, psk, verbose) = (node.Key, node.Listen, node.Psk, node.Verbose);
        var join = new Option<string[]>("--vpn-join") { Description = "A VPN coordinator's multiaddr (ending in /p2p/<id>) to join (repeatable: one VPN each).", Required = true };
        var api = new Option<string>("--api") { Description = "Where the management API listens, IP:PORT.", DefaultValueFactory = _ => "127.0.0.1:7466" };
        var token = new Option<string?>("--api-token") { Description = "Require 'Authorization: Bearer <token>' on the management API." };
        var perSource = new Option<int?>("--max-connections-per-source") { Description = "Connections and UDP flows one client IP may hold open (0: no limit). Default 64." };
        var rate = new Option<int?>("--connection-rate-per-source") { Description = "New connections and UDP flows per second one client IP may open (0: no limit). Default 50." };
        var idle = new Option<double?>("--idle-timeout") { Description = "Seconds a forwarded TCP connection may stay idle. Default 900." };
        var udpIdle = new Option<double?>("--udp-idle-timeout") { Description = "Seconds a UDP flow may stay idle. Default 60." };
        foreach (var option in new Option[] { key, listen, join, api, token, psk, perSource, rate, idle, udpIdle, verbose })
        {
            inbound.Options.Add(option);
        }
        inbound.SetAction((parse, ct) => CliSupport.RunAsync(async () =>
        {
            var options = new InboundProxyOptions();
            if (parse.GetValue(perSource) is { } p)
            {
                options.MaxConnectionsPerSource = p;
            }
            if (parse.GetValue(rate) is { } r)
            {
                options.ConnectionRatePerSource = r;
            }
            if (parse.GetValue(idle) is { } i)
            {
                options.IdleTimeout = Seconds(i, "--idle-timeout");
            }
            if (parse.GetValue(udpIdle) is { } u)
            {
                options.UdpFlowIdleTimeout = Seconds(u, "--udp-idle-timeout");
            }
            try
            {
                options.Validate();
            }
            catch (ArgumentOutOfRangeException e)
            {
                throw new ArgumentException($"bad {e.ParamName}: {e.ActualValue}.", e);
            }
            if (!IPEndPoint.TryParse(parse.GetValue(api)!, out var apiEndPoint))
            {
                throw new ArgumentException($"bad --api '{parse.GetValue(api)}': expected IP:PORT, e.g. 127.0.0.1:7466.");
            }
            var coordinators = parse.GetValue(join)!.Select(CliSupport.ParseAddress).ToArray();
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
            var memberships = new List<(UserSpacePacketDevice Device, VpnMember Vpn, IPStack Stack)>();
            await using var proxy = new InboundProxy(options, logging);
            try
            {
                foreach (var coordinator in coordinators)
                {
                    var device = new UserSpacePacketDevice();
                    var member = new VpnMember(host, device, new VpnOptions(), logging);
                    memberships.Add((device, member, null!));
                    var table = await VpnCommands.JoinWithRetryAsync(member, coordinator, null, shutdown, ct);
                    IPAddress address = await device.Configured.WaitAsync(ct);
                    var stack = new IPStack(device.ApplicationEnd, address, new NetStackOptions { Mtu = device.Mtu }, loggerFactory: logging);
                    memberships[^1] = (device, member, stack);
                    await stack.StartAsync(ct);
                    proxy.AddVpn(member, stack);
                    CliSupport.WriteLine($"VPN ID {member.VpnId}", new EventLine("vpn_id") { VpnId = member.VpnId });
                    CliSupport.WriteLine($"VPN UP {address}/{table.Network.PrefixLength} (user space)",
                        new EventLine("vpn_up") { Address = address.ToString(), Prefix = table.Network.PrefixLength, VpnId = member.VpnId });
                }
                await using var server = new InboundProxyApiServer(proxy, apiEndPoint, new InboundProxyApiOptions { BearerToken = parse.GetValue(token) }, logging);
                await server.StartAsync(ct);
                string url = server.Url.ToString().TrimEnd('/');
                CliSupport.WriteLine($"PROXY API {url}", new EventLine("proxy_api") { Url = url });
                foreach (var bound in host.ListenAddresses)
                {
                    string full = CliSupport.DialableAddress(host, bound);
                CliSupport.WriteLine($"LISTEN {full}", new EventLine("listen") { Address = full });
                }
                await shutdown;
            }
            finally
            {
                // The proxy first (its connections ride the stacks), then each stack, membership and device.
                await proxy.DisposeAsync();
                foreach (var (device, member, stack) in memberships)
                {
                    if (stack is not null)
                    {
                        await stack.DisposeAsync();
                    }
                    await member.DisposeAsync();
                    await device.DisposeAsync();
                }
                await host.StopAsync(CancellationToken.None);
            }
            return ExitCodes.Ok;
        }));
        return inbound;
    }

    private static TimeSpan Seconds(double value, string option) =>
        double.IsFinite(value) && value > 0 && value < int.MaxValue / 1000.0
            ? TimeSpan.FromSeconds(value)
            : throw new ArgumentException($"{option} must be a positive number of seconds.");

    // ---- the management API's client ----

    private static readonly Option<string> ApiUrl = new("--api") { Description = "The management API's URL.", DefaultValueFactory = _ => "http://127.0.0.1:7466" };
    private static readonly Option<string?> ApiToken = new("--api-token") { Description = "The API's bearer token, if it has one." };

    private static Command ClientCommand(string name, string description, params Symbol[] symbols)
    {
        var command = new Command(name, description);
        command.Options.Add(ApiUrl);
        command.Options.Add(ApiToken);
        foreach (var symbol in symbols)
        {
            switch (symbol)
            {
                case Option option:
                    command.Options.Add(option);
                    break;
                case Argument argument:
                    command.Arguments.Add(argument);
                    break;
            }
        }
        return command;
    }

    private static Argument<string> ProtoArgument() => new("proto") { Description = "tcp or udp." };

    private static Argument<string> AddrArgument() => new("addr") { Description = "The socket's IP:PORT (IPv6 in brackets)." };

    private static Command CreateGateway()
    {
        var gateway = new Command("gateway", "Gateway (forwarding) sockets: /gateway-api/v1/.");
        {
            var proto = ProtoArgument();
            var addr = AddrArgument();
            var requestor = new Option<string>("--requestor") { Description = "RequestorId.", Required = true };
            var activity = new Option<string>("--activity") { Description = "ActivityId (the metrics' key).", Required = true };
            var vpn = new Option<string>("--vpn") { Description = "VpnId: a VPN the proxy is a member of ('VPN ID' of vpn up).", Required = true };
            var remoteId = new Option<string>("--remote-id") { Description = "RemoteId: the peer id of the service's node.", Required = true };
            var remoteAddr = new Option<string>("--remote-addr") { Description = "RemoteAddr: the service's VPN-IP:PORT.", Required = true };
            var add = ClientCommand("add", "Create a forwarding socket; prints 'GATEWAY <proto>/<addr>'.", proto, addr, requestor, activity, vpn, remoteId, remoteAddr);
            add.SetAction((parse, ct) => RunClientAsync(parse, async client =>
            {
                string socket = SocketPath(parse.GetValue(proto)!, parse.GetValue(addr)!);
                var body = new JsonObject
                {
                    ["RequestorId"] = parse.GetValue(requestor),
                    ["ActivityId"] = parse.GetValue(activity),
                    ["VpnId"] = parse.GetValue(vpn),
                    ["RemoteId"] = parse.GetValue(remoteId),
                    ["RemoteAddr"] = parse.GetValue(remoteAddr),
                };
                await SendAsync(client, HttpMethod.Post, "/gateway-api/v1/" + socket, body, ct);
                string name = SocketName(parse.GetValue(proto)!, parse.GetValue(addr)!);
                CliSupport.WriteLine($"GATEWAY {name}", new EventLine("gateway") { Address = name });
            }, ct));
            gateway.Subcommands.Add(add);
        }
        var list = ClientCommand("list", "Print every gateway socket's entry (JSON).");
        list.SetAction((parse, ct) => RunClientAsync(parse, client => PrintAsync(client, "/gateway-api/v1/", ct), ct));
        gateway.Subcommands.Add(list);
        {
            var proto = ProtoArgument();
            var addr = AddrArgument();
            var get = ClientCommand("get", "Print a gateway socket's entry (JSON).", proto, addr);
            get.SetAction((parse, ct) => RunClientAsync(parse, client =>
                PrintAsync(client, "/gateway-api/v1/" + SocketPath(parse.GetValue(proto)!, parse.GetValue(addr)!), ct), ct));
            gateway.Subcommands.Add(get);
        }
        {
            var proto = ProtoArgument();
            var addr = AddrArgument();
            var remove = ClientCommand("remove", "Unbind a gateway socket; prints 'REMOVED <proto>/<addr>'.", proto, addr);
            remove.SetAction((parse, ct) => RunClientAsync(parse, async client =>
            {
                await SendAsync(client, HttpMethod.Delete, "/gateway-api/v1/" + SocketPath(parse.GetValue(proto)!, parse.GetValue(addr)!), null, ct);
                string name = SocketName(parse.GetValue(proto)!, parse.GetValue(addr)!);
                CliSupport.WriteLine($"REMOVED {name}", new EventLine("removed") { Address = name });
            }, ct));
            gateway.Subcommands.Add(remove);
        }
        return gateway;
    }

    private static Command CreateProbe()
    {
        var probe = new Command("probe", "Probe sockets: /probe-api/v1/.");
        {
            var proto = ProtoArgument();
            var addr = AddrArgument();
            var requestor = new Option<string>("--requestor") { Description = "RequestorId.", Required = true };
            var token = new Option<string>("--token") { Description = "The Token to answer.", Required = true };
            var add = ClientCommand("add", "Open a probe socket or add a (requestor, token) pair to it; prints 'PROBE <proto>/<addr>'.", proto, addr, requestor, token);
            add.SetAction((parse, ct) => RunClientAsync(parse, async client =>
            {
                var body = new JsonObject { ["RequestorId"] = parse.GetValue(requestor), ["Token"] = parse.GetValue(token) };
                await SendAsync(client, HttpMethod.Put, "/probe-api/v1/" + SocketPath(parse.GetValue(proto)!, parse.GetValue(addr)!), body, ct);
                string name = SocketName(parse.GetValue(proto)!, parse.GetValue(addr)!);
                CliSupport.WriteLine($"PROBE {name}", new EventLine("probe") { Address = name });
            }, ct));
            probe.Subcommands.Add(add);
        }
        var list = ClientCommand("list", "Print every probe socket and its probes (JSON).");
        list.SetAction((parse, ct) => RunClientAsync(parse, client => PrintAsync(client, "/probe-api/v1/", ct), ct));
        probe.Subcommands.Add(list);
        {
            var proto = ProtoArgument();
            var addr = AddrArgument();
            var requestor = new Option<string?>("--requestor") { Description = "Print only this requestor's token." };
            var get = ClientCommand("get", "Print the probes at an address, or one requestor's token (JSON).", proto, addr, requestor);
            get.SetAction((parse, ct) => RunClientAsync(parse, client =>
            {
                string path = "/probe-api/v1/" + SocketPath(parse.GetValue(proto)!, parse.GetValue(addr)!);
                return PrintAsync(client, parse.GetValue(requestor) is { } r ? path + "/" + Uri.EscapeDataString(r) : path, ct);
            }, ct));
            probe.Subcommands.Add(get);
        }
        {
            var proto = ProtoArgument();
            var addr = AddrArgument();
            var requestor = new Option<string>("--requestor") { Description = "RequestorId whose probes go.", Required = true };
            var token = new Option<string?>("--token") { Description = "Remove only the probe with this token." };
            var remove = ClientCommand("remove", "Remove a requestor's probes (or one); prints 'REMOVED <proto>/<addr> <requestor>'.", proto, addr, requestor, token);
            remove.SetAction((parse, ct) => RunClientAsync(parse, async client =>
            {
                string path = "/probe-api/v1/" + SocketPath(parse.GetValue(proto)!, parse.GetValue(addr)!) + "/" + Uri.EscapeDataString(parse.GetValue(requestor)!);
                if (parse.GetValue(token) is { } t)
                {
                    path += "/" + Uri.EscapeDataString(t);
                }
                await SendAsync(client, HttpMethod.Delete, path, null, ct);
                string name = SocketName(parse.GetValue(proto)!, parse.GetValue(addr)!);
                CliSupport.WriteLine($"REMOVED {name} {parse.GetValue(requestor)}", new EventLine("removed") { Address = name, Message = parse.GetValue(requestor) });
            }, ct));
            probe.Subcommands.Add(remove);
        }
        return probe;
    }

    private static Command CreateStatus()
    {
        var status = ClientCommand("status", "Print the proxy's status (/status-api/v1/status, JSON on one line).");
        status.SetAction((parse, ct) => RunClientAsync(parse, client => PrintAsync(client, "/status-api/v1/status", ct), ct));
        return status;
    }

    private static Command CreateMetrics()
    {
        var activity = new Option<string?>("--activity") { Description = "An activity's metrics." };
        var vpn = new Option<string?>("--vpn") { Description = "A VPN's metrics." };
        var bandwidth = new Option<bool>("--bandwidth") { Description = "Only the bandwidth." };
        var metrics = ClientCommand("metrics", "Print metrics (/status-api/v1/metrics…, JSON on one line): the proxy's, an activity's or a VPN's.", activity, vpn, bandwidth);
        metrics.SetAction((parse, ct) => RunClientAsync(parse, client =>
        {
            string path = (parse.GetValue(activity), parse.GetValue(vpn)) switch
            {
                ({ } a, null) => "/status-api/v1/metrics/activity/" + Uri.EscapeDataString(a),
                (null, { } v) => "/status-api/v1/metrics/vpn/" + Uri.EscapeDataString(v),
                (null, null) => "/status-api/v1/metrics",
                _ => throw new ArgumentException("Give at most one of --activity and --vpn."),
            };
            return PrintAsync(client, parse.GetValue(bandwidth) ? path + "/bandwidth" : path, ct);
        }, ct));
        return metrics;
    }

    /// <summary>The API's <c>{proto}/{addr}</c> path, checked here so that a typo is a usage error, not a 404.</summary>
    private static string SocketPath(string proto, string addr)
    {
        try
        {
            return $"{InboundProxy.FormatProtocol(InboundProxy.ParseProtocol(proto))}/{Uri.EscapeDataString(InboundProxy.ParseEndPoint(addr).ToString())}";
        }
        catch (InboundProxyException e)
        {
            throw new ArgumentException(e.Message, e);
        }
    }

    private static string SocketName(string proto, string addr) =>
        InboundProxy.FormatSocket(InboundProxy.ParseProtocol(proto), InboundProxy.ParseEndPoint(addr));

    private static Task<int> RunClientAsync(ParseResult parse, Func<HttpClient, Task> body, CancellationToken ct) => CliSupport.RunAsync(async () =>
    {
        ct.ThrowIfCancellationRequested();
        if (!Uri.TryCreate(parse.GetValue(ApiUrl), UriKind.Absolute, out var baseUrl) || baseUrl.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException($"bad --api '{parse.GetValue(ApiUrl)}': expected a URL such as http://127.0.0.1:7466.");
        }
        using var client = new HttpClient { BaseAddress = baseUrl, Timeout = TimeSpan.FromSeconds(30) };
        if (parse.GetValue(ApiToken) is { Length: > 0 } token)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        try
        {
            await body(client);
            return ExitCodes.Ok;
        }
        catch (ProxyApiException e)
        {
            int code = e.Status switch
            {
                400 or 413 or 415 => ExitCodes.Usage,
                401 or 403 or 409 => ExitCodes.Refused,
                _ => ExitCodes.General,
            };
            await CliSupport.WriteErrorAsync(code, e.Message);
            return code;
        }
        catch (HttpRequestException e) when (e.HttpRequestError == HttpRequestError.ConnectionError)
        {
            await CliSupport.WriteErrorAsync(ExitCodes.Unreachable, $"the API at {baseUrl} is unreachable: {e.Message}");
            return ExitCodes.Unreachable;
        }
    });

    private static async Task PrintAsync(HttpClient client, string path, CancellationToken ct)
    {
        string body = await SendAsync(client, HttpMethod.Get, path, null, ct);
        // One line, as the API wrote it (compact): scripts pipe it to jq.
        Console.Out.WriteLine(body.Trim());
        Console.Out.Flush();
    }

    private static async Task<string> SendAsync(HttpClient client, HttpMethod method, string path, JsonObject? body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        }
        using var response = await client.SendAsync(request, ct);
        string text = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode)
        {
            string detail = text;
            try
            {
                if (JsonNode.Parse(text) is JsonObject problem && problem["detail"]?.GetValue<string>() is { } d)
                {
                    detail = problem["field"]?.GetValue<string>() is { } field ? $"{d} (field {field})" : d;
                }
            }
            catch (JsonException)
            {
            }
            throw new ProxyApiException((int)response.StatusCode,
                $"{(int)response.StatusCode} {response.ReasonPhrase}: {detail}".ToString(CultureInfo.InvariantCulture));
        }
        return text;
    }

    /// <summary>The API answered an error status.</summary>
    private sealed class ProxyApiException(int status, string message) : Exception(message)
    {
        public int Status { get; } = status;
    }
}
