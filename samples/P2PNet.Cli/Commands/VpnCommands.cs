using System.CommandLine;
using System.Net;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Security.Pnet;
using P2PNet.Vpn;
using P2PNet.Vpn.Tun;

namespace P2PNet.Cli.Commands;

/// <summary><c>p2pnet vpn up</c>: start (coordinator) or join a VPN over libp2p with a TUN device.</summary>
internal static class VpnCommands
{
    public static Command Create()
    {
        var vpn = new Command("vpn", "A VPN over libp2p: private IPs for peers, packets over libp2p streams.");
        vpn.Subcommands.Add(CreateUp());
        return vpn;
    }

    private static Command CreateUp()
    {
        var up = new Command("up", "Start a network (--coordinator) or join one (--join). Prints 'VPN ID <id>' and 'VPN UP <ip>/<prefix> dev <tun>' once the device is up, runs until SIGINT/SIGTERM and removes the device on exit. Needs CAP_NET_ADMIN. A coordinator reads 'add PEERID[=IP]', 'invite PEERID[=IP]' (admit and ask the peer to join, e.g. a gateway node), 'remove PEERID' and 'status' lines on stdin.");
        var node = new NodeHostOptions();
        var (key, listen, psk, verbose) = (node.Key, node.Listen, node.Psk, node.Verbose);
        var cidr = new Option<string?>("--cidr") { Description = "The VPN network, e.g. 10.86.0.0/24 (coordinator)." };
        var ip = new Option<string?>("--ip") { Description = "This member's VPN address (the coordinator's own, or the one a joiner asks for)." };
        var coordinator = new Option<bool>("--coordinator") { Description = "Start a network with this node as coordinator." };
        var allow = new Option<string[]>("--allow") { Description = "PEERID[=IP]: a peer allowed to join (coordinator; repeatable). With =IP the address is reserved at start." };
        var join = new Option<string?>("--join") { Description = "The coordinator's multiaddr (ending in /p2p/<id>) to join." };
        var tun = new Option<string>("--tun") { Description = "TUN device name.", DefaultValueFactory = _ => "p2pnet%d" };
        var mtu = new Option<int>("--mtu") { Description = "MTU of the VPN.", DefaultValueFactory = _ => 1420 };
        var noOffload = new Option<bool>("--no-offload") { Description = "Open the TUN device without IFF_VNET_HDR segmentation/checksum offload: one MTU-sized packet per read and write (slower; for kernels or setups where offload misbehaves)." };
        var vpnId = new Option<string?>("--vpn-id") { Description = "The VPN's id (32 hex characters). Coordinator: default the one kept in <key file>.vpn-id (created on the first run), or a new one each run without --key. Member: the VPN to join when the coordinator's host runs several (default: its only one)." };
        var peers = new Option<string[]>("--peer") { Description = "ID=MULTIADDR: where a peer can be dialed (repeatable), e.g. a gateway node to 'invite'." };
        var gateway = new Option<string?>("--gateway") { Description = "Coordinator: the outbound gateway's VPN address (members send packets for destinations outside the VPN to it; docs/outbound-gateway.md)." };
        var noLowLatency = new Option<bool>("--no-low-latency") { Description = "Receive on the thread pool instead of a thread per connection (TcpTransportOptions.LowLatency, on by default here: a lone packet crosses the node without a thread-pool dispatch; docs/vpn.md, 'Latency at human rates')." };
        foreach (var option in new Option[] { key, listen, cidr, ip, coordinator, allow, join, tun, mtu, noOffload, vpnId, psk, gateway, peers, noLowLatency, verbose })
        {
            up.Options.Add(option);
        }
        up.SetAction((parse, ct) => CliSupport.RunAsync(async () =>
        {
            bool isCoordinator = parse.GetValue(coordinator);
            string? joinAddress = parse.GetValue(join);
            if (isCoordinator == (joinAddress is not null))
            {
                throw new ArgumentException("Give exactly one of --coordinator and --join.");
            }
            var options = new VpnOptions { Mtu = parse.GetValue(mtu), VpnId = ParseVpnId(parse.GetValue(vpnId)) };
            IPAddress? address = parse.GetValue(ip) is { } ipText ? ParseIp(ipText, "--ip") : null;
            var initial = new List<VpnMemberRequest>();
            var allowOnly = new List<PeerId>();
            if (isCoordinator)
            {
                string cidrText = parse.GetValue(cidr) ?? throw new ArgumentException("--coordinator needs --cidr (e.g. 10.86.0.0/24).");
                if (!IPNetwork.TryParse(cidrText, out var range))
                {
                    throw new ArgumentException($"bad --cidr '{cidrText}': expected e.g. 10.86.0.0/24.");
                }
                options.Network = range;
                options.Address = address;
                options.Gateway = parse.GetValue(gateway) is { } gatewayText ? ParseIp(gatewayText, "--gateway") : null;
                options.VpnId ??= LoadOrCreateVpnId(parse.GetValue(key));
                foreach (string entry in parse.GetValue(allow) ?? [])
                {
                    string[] parts = entry.Split('=', 2);
                    if (!PeerId.TryParse(parts[0], out var peer))
                    {
                        throw new ArgumentException($"bad --allow '{entry}': expected PEERID[=IP].");
                    }
                    if (parts.Length == 2)
                    {
                        initial.Add(new VpnMemberRequest(peer, ParseIp(parts[1], "--allow")));
                    }
                    else
                    {
                        allowOnly.Add(peer);
                    }
                }
            }
            var parsed = node.ListenAddresses(parse);
            Multiaddr? coordinatorAddress = joinAddress is null ? null : CliSupport.ParseAddress(joinAddress);
            SwarmKey? swarmKey = node.ReadSwarmKey(parse);

            using var identity = CliSupport.LoadOrCreateKey(parse.GetValue(key));
            using var logging = CliSupport.CreateLoggerFactory(parse.GetValue(verbose));
            bool lowLatency = !parse.GetValue(noLowLatency);
            await using var host = CliSupport.CreateHost(identity, logging, o =>
            {
                o.PrivateNetworkKey = swarmKey;
                o.Tcp.LowLatency = lowLatency;
            });
            var shutdown = CliSupport.WaitForShutdownAsync(ct);
            foreach (var a in parsed)
            {
                await host.ListenAsync(a, ct);
            }
            CliSupport.AddKnownPeers(host, parse.GetValue(peers) ?? []);
            await using var device = TunDevice.Create(parse.GetValue(tun)!, offload: !parse.GetValue(noOffload));
            await using VpnEndpoint network = isCoordinator ? new VpnCoordinator(host, device, options, logging) : new VpnMember(host, device, options, logging);
            VpnRoutingTable table;
            if (network is VpnCoordinator coordinating)
            {
                foreach (var peer in allowOnly)
                {
                    coordinating.Allow(peer);
                }
                table = await coordinating.StartAsync(initial, ct);
            }
            else
            {
                table = await JoinWithRetryAsync((VpnMember)network, coordinatorAddress!, address, shutdown, ct);
            }
            // Scripts (the inbound proxy's and the gateway's) read the VPN id from this line.
            CliSupport.WriteLine($"VPN ID {network.VpnId}", new EventLine("vpn_id") { VpnId = network.VpnId });
            CliSupport.WriteLine($"VPN UP {network.Address}/{table.Network.PrefixLength} dev {device.Name}",
                new EventLine("vpn_up") { Address = network.Address?.ToString(), Prefix = table.Network.PrefixLength, Device = device.Name });
            foreach (var bound in host.ListenAddresses)
            {
                string full = CliSupport.DialableAddress(host, bound);
                CliSupport.WriteLine($"LISTEN {full}", new EventLine("listen") { Address = full });
            }
            await Console.Out.FlushAsync(ct);
            using var stopCommands = CancellationTokenSource.CreateLinkedTokenSource(ct);
            // Console.In's ReadLineAsync blocks its caller (a synchronized reader): read commands on a thread of their own,
            // or a SIGTERM would wait for the next line or the end of stdin.
            var commands = network is VpnCoordinator commanded
                ? Task.Factory.StartNew(() => ReadCommandsAsync(commanded, stopCommands.Token), CancellationToken.None,
                    TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap()
                : Task.CompletedTask;
            await shutdown;
            await stopCommands.CancelAsync();
            // A console read blocked in the kernel cannot be cancelled: give it a moment, then exit regardless.
            await Task.WhenAny(commands, Task.Delay(200, CancellationToken.None));
            var stats = network.GetStatistics();
            await network.StopAsync(CancellationToken.None);
            await Console.Error.WriteLineAsync("VPN STATS " + System.Text.Json.JsonSerializer.Serialize(
                new VpnStatsLine(network.VpnId, stats.Peers, stats.Drops.ToDictionary(d => d.Key.ToString(), d => d.Value)),
                CliJsonContext.Default.VpnStatsLine));
            await host.StopAsync(CancellationToken.None);
            return 0;
        }));
        return up;
    }

    internal static async Task<VpnRoutingTable> JoinWithRetryAsync(VpnMember network, Multiaddr coordinator, IPAddress? address, Task shutdown, CancellationToken ct)
    {
        // The coordinator may still be starting: retry unreachable dials for a while, never a refusal.
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await network.JoinAsync(coordinator, address, ct);
            }
            catch (Exception e) when (attempt < 10 && e is IOException or TimeoutException or System.Net.Sockets.SocketException && e is not VpnDeviceException)
            {
                await Task.WhenAny(Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), ct), shutdown);
                if (shutdown.IsCompleted)
                {
                    throw new OperationCanceledException("Interrupted before joining.");
                }
            }
        }
    }

    /// <summary>The coordinator's operator commands on stdin, one per line: <c>add PEERID[=IP]</c>, <c>remove PEERID</c>,
    /// <c>status</c>.</summary>
    private static async Task ReadCommandsAsync(VpnCoordinator network, CancellationToken ct)
    {
        try
        {
            while (await Console.In.ReadLineAsync(ct) is { } line)
            {
                string[] words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                try
                {
                    if (words is ["status"])
                    {
                        WriteStatus(network);
                    }
                    else if (words is ["remove", var id] && PeerId.TryParse(id, out var removed))
                    {
                        bool was = await network.RemovePeerAsync(removed, ct);
                        CliSupport.WriteLine(was ? $"REMOVED {removed}" : $"NOT A MEMBER {removed}",
                            new EventLine(was ? "removed" : "not_a_member") { Peer = removed.ToString() });
                    }
                    else if (words is ["invite", var invited] && PeerId.TryParse(invited.Split('=')[0], out var guest))
                    {
                        // Admit, then ask the peer to join (an outbound gateway node, `p2pnet gateway serve`): it answers once joined.
                        var ip = invited.Contains('=', StringComparison.Ordinal) ? ParseIp(invited.Split('=')[1], "invite") : null;
                        var given = await network.AddPeerAsync(guest, ip, ct);
                        try
                        {
                            await VpnInvite.InviteAsync(network, guest, given, null, ct);
                            CliSupport.WriteLine($"JOINED {guest} {given}", new EventLine("joined") { Peer = guest.ToString(), Address = given.ToString() });
                        }
                        catch (Exception e) when (e is VpnJoinRejectedException or IOException or System.Net.Sockets.SocketException or TimeoutException or WireFormatException)
                        {
                            await network.RemovePeerAsync(guest, ct);
                            await Console.Error.WriteLineAsync($"error: {guest} did not join: {e.Message}");
                        }
                    }
                    else if (words is ["add", var entry] && PeerId.TryParse(entry.Split('=')[0], out var added))
                    {
                        var ip = entry.Contains('=', StringComparison.Ordinal) ? ParseIp(entry.Split('=')[1], "add") : null;
                        var given = await network.AddPeerAsync(added, ip, ct);
                        CliSupport.WriteLine($"ADDED {added} {given}", new EventLine("added") { Peer = added.ToString(), Address = given.ToString() });
                    }
                    else
                    {
                        await Console.Error.WriteLineAsync($"unknown command '{line}': use 'add PEERID[=IP]', 'invite PEERID[=IP]', 'remove PEERID' or 'status'");
                    }
                }
                catch (ArgumentException e)
                {
                    await Console.Error.WriteLineAsync("error: " + e.Message);
                }
                await Console.Out.FlushAsync(ct);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary><c>status</c>: the VPN id, the table's version and one line per member.</summary>
    private static void WriteStatus(VpnCoordinator network)
    {
        CliSupport.WriteLine($"VPN ID {network.VpnId}", new EventLine("vpn_id") { VpnId = network.VpnId });
        if (network.RoutingTable is { } table)
        {
            CliSupport.WriteLine($"TABLE {table.Version} {table.Network} {table.Members.Count} members",
                new EventLine("table") { VpnId = table.VpnId, Address = table.Network.ToString(), Message = $"version {table.Version}" });
            foreach (var member in table.Members)
            {
                CliSupport.WriteLine($"MEMBER {member.Peer} {member.Address}", new EventLine("member") { Peer = member.Peer.ToString(), Address = member.Address.ToString() });
            }
        }
    }

    /// <summary>The coordinator's VPN id, kept beside its key (<c>&lt;key&gt;.vpn-id</c>) so a restarted coordinator runs
    /// the same VPN; a new one each run without a key file.</summary>
    private static string? LoadOrCreateVpnId(string? keyPath)
    {
        if (keyPath is null)
        {
            return null; // VpnCoordinator generates one
        }
        string path = keyPath + ".vpn-id";
        if (File.Exists(path))
        {
            return ParseVpnId(File.ReadAllText(path).Trim()) is { } kept ? kept : throw new ArgumentException($"{path} holds no VPN id.");
        }
        string id = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
        File.WriteAllText(path, id + "\n");
        return id;
    }

    private static string? ParseVpnId(string? text)
    {
        if (text is null)
        {
            return null;
        }
        string id = text.ToLowerInvariant();
        return id.Length == 32 && id.All(char.IsAsciiHexDigitLower)
            ? id
            : throw new ArgumentException($"bad VPN id '{text}': expected 32 hex characters.");
    }

    private static IPAddress ParseIp(string text, string option) =>
        IPAddress.TryParse(text, out var address) && address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
            ? address
            : throw new ArgumentException($"bad {option} address '{text}': expected an IPv4 address.");
}
