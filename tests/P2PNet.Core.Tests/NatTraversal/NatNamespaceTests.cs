using P2PNet.Testing;
using P2PNet.Testing.Interop;
using P2PNet.Testing.Networking;
using P2PNet.Testing.Processes;

namespace P2PNet.Core.Tests.NatTraversal;

/// <summary>
/// Issue #15's "done when", with real NATs: two private networks behind router namespaces that masquerade (nftables)
/// and drop unsolicited inbound connections as home routers do, and an "Internet" switch (203.0.113.0/24) holding a
/// relay, an AutoNAT server and a public node, every node a <c>p2pnet</c> process. The documentation range counts as
/// private for libp2p (as in go- and js-libp2p), hence <c>--autonat-allow-private</c> throughout.
/// </summary>
[Collection(NatLabGroup.Name)]
public sealed class NatNamespaceTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(60);
    private const string RelayIp = "203.0.113.10";
    private const string AutoNatIp = "203.0.113.11";
    private const string PublicIp = "203.0.113.20";
    private const string LeftRouterIp = "203.0.113.2";
    private const string RightRouterIp = "203.0.113.3";

    [Fact]
    public async Task NodesBehindTwoNats_ReachEachOtherThroughTheRelay_ThenDirectly_AndReachabilityAndNatTypeFire()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        await using var net = await Topology.CreateAsync(leftEndpointDependent: false, cancel.Token);

        // The public node says public; the private one says private and that its NAT maps endpoint-independently.
        await using var publicNode = net.Node(net.Public, "--bootstrap", net.AutoNatAddress, "--bootstrap", net.RelayAddress, "--autonat", "--autonat-allow-private");
        await publicNode.WaitForLineAsync(l => l == "REACHABILITY public", Step, cancel.Token);
        // AutoRelay: the private node reserves on the relay once it knows it is private.
        await using var right = net.Node(net.Right, "--relay", net.RelayAddress, "--auto-relay", "--bootstrap", net.AutoNatAddress,
            "--autonat", "--autonat-allow-private", "-v");
        string rightId = await PeerIdOfAsync(right, cancel.Token);
        await right.WaitForLineAsync(l => l == "NAT tcp cone", Step, cancel.Token);
        await right.WaitForLineAsync(l => l == "REACHABILITY private", Step, cancel.Token);
        string circuit = (await right.WaitForLineAsync("RESERVED ", $"/ip4/{RelayIp}/", Step, cancel.Token))["RESERVED ".Length..];
        Assert.EndsWith($"/p2p-circuit/p2p/{rightId}", circuit, StringComparison.Ordinal);
        var lines = right.Lines.ToList();
        Assert.True(lines.IndexOf("REACHABILITY private") < lines.FindIndex(l => l.StartsWith("RESERVED ", StringComparison.Ordinal)),
            "reserved only once private:\n" + string.Join('\n', lines));
        Assert.DoesNotContain("REACHABILITY public", right.Lines);

        // Through the relay: a peer behind the other NAT pings and echoes 8 MiB (the echo checks every byte).
        var echo = await net.RunAsync(net.Left, cancel.Token, "echo", circuit, "--bytes", "8388608", "--timeout", "120");
        Assert.Contains("{\"bytes\":8388608,\"ok\":true}", echo.Lines);

        // Then directly: the relayed connection is upgraded by a TCP simultaneous open through both NATs.
        var ping = await net.RunAsync(net.Left, cancel.Token, "ping", circuit, "--count", "3", "--timeout", "120",
            "--listen", "/ip4/0.0.0.0/tcp/4001", "--direct-wait", "30");
        Assert.Contains($"DIRECT {rightId} /ip4/{RightRouterIp}/tcp/4001", ping.Lines);
        Assert.Equal(3, ping.Lines.Count(l => l.Contains("rtt_ms", StringComparison.Ordinal)));
        await right.WaitForLineAsync(l => l.StartsWith("DIRECT ", StringComparison.Ordinal) && l.EndsWith($"/ip4/{LeftRouterIp}/tcp/4001", StringComparison.Ordinal),
            Step, cancel.Token);
    }

    [Fact]
    public async Task BehindAnEndpointDependentNat_TheNatTypeIsSymmetric_AndTheConnectionStaysRelayed()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        await using var net = await Topology.CreateAsync(leftEndpointDependent: true, cancel.Token);
        await using var left = net.Node(net.Left, "--bootstrap", net.AutoNatAddress, "--bootstrap", net.RelayAddress, "-v");
        await left.WaitForLineAsync(l => l == "NAT tcp symmetric", Step, cancel.Token);

        await using var right = net.Node(net.Right, "--relay", net.RelayAddress);
        string rightId = await PeerIdOfAsync(right, cancel.Token);
        string circuit = (await right.WaitForLineAsync("RESERVED ", $"/ip4/{RelayIp}/", Step, cancel.Token))["RESERVED ".Length..];
        var ping = await net.RunAsync(net.Left, cancel.Token, "ping", circuit, "--count", "2", "--timeout", "120",
            "--listen", "/ip4/0.0.0.0/tcp/4002", "--direct-wait", "25");
        Assert.Contains(ping.Lines, l => l.StartsWith($"NO-DIRECT {rightId} ", StringComparison.Ordinal));
        Assert.DoesNotContain(ping.Lines, l => l.StartsWith("DIRECT ", StringComparison.Ordinal));
        Assert.Equal(2, ping.Lines.Count(l => l.Contains("rtt_ms", StringComparison.Ordinal)));
        string failed = await right.WaitForLineAsync("NO-DIRECT ", null, Step, cancel.Token);
        Assert.Contains("attempts", failed, StringComparison.Ordinal);
    }

    private static async Task<string> PeerIdOfAsync(ChildProcess node, CancellationToken cancellationToken)
    {
        string listen = await node.WaitForLineAsync("LISTEN ", null, Step, cancellationToken);
        return listen[(listen.LastIndexOf('/') + 1)..];
    }

    /// <summary>The lab: relay and AutoNAT server on the Internet switch, one private network per side.</summary>
    private sealed class Topology : IAsyncDisposable
    {
        private readonly NamespaceLab _lab;
        private readonly List<ChildProcess> _services = [];

        private Topology(NamespaceLab lab) => _lab = lab;

        public string Public { get; private set; } = "";

        public string Left { get; private set; } = "";

        public string Right { get; private set; } = "";

        public string RelayAddress { get; private set; } = "";

        public string AutoNatAddress { get; private set; } = "";

        public static async Task<Topology> CreateAsync(bool leftEndpointDependent, CancellationToken cancellationToken)
        {
            var lab = await NamespaceLab.CreateAsync("relay", cancellationToken);
            var net = new Topology(lab);
            try
            {
                var wan = await lab.AddSwitchAsync("203.0.113.0/24", cancellationToken);
                var leftLan = await lab.AddSwitchAsync("10.81.0.0/24", cancellationToken);
                var rightLan = await lab.AddSwitchAsync("10.82.0.0/24", cancellationToken);
                string relay = await lab.AddHostAsync("relay", wan, RelayIp, cancellationToken);
                string autonat = await lab.AddHostAsync("autonat", wan, AutoNatIp, cancellationToken);
                net.Public = await lab.AddHostAsync("public", wan, PublicIp, cancellationToken);
                string leftRouter = await lab.AddRouterAsync("lrouter", wan, LeftRouterIp, leftLan, "10.81.0.1", cancellationToken);
                string rightRouter = await lab.AddRouterAsync("rrouter", wan, RightRouterIp, rightLan, "10.82.0.1", cancellationToken);
                await lab.MasqueradeAsync(leftRouter, wan, cancellationToken, endpointDependent: leftEndpointDependent, firewall: true);
                await lab.MasqueradeAsync(rightRouter, wan, cancellationToken, firewall: true);
                net.Left = await lab.AddHostAsync("left", leftLan, "10.81.0.10", cancellationToken, gateway: "10.81.0.1");
                net.Right = await lab.AddHostAsync("right", rightLan, "10.82.0.10", cancellationToken, gateway: "10.82.0.1");

                var relayNode = net.Node(relay, "--relay-service", "--relay-data-limit", "0", "--relay-duration", "0",
                    "--autonat-service", "--autonat-allow-private");
                var autonatNode = net.Node(autonat, "--autonat-service", "--autonat-allow-private");
                net._services.Add(relayNode);
                net._services.Add(autonatNode);
                net.RelayAddress = (await relayNode.WaitForLineAsync("LISTEN ", $"/ip4/{RelayIp}/", Step, cancellationToken))["LISTEN ".Length..];
                net.AutoNatAddress = (await autonatNode.WaitForLineAsync("LISTEN ", $"/ip4/{AutoNatIp}/", Step, cancellationToken))["LISTEN ".Length..];
                return net;
            }
            catch
            {
                await net.DisposeAsync();
                throw;
            }
        }

        /// <summary>A <c>p2pnet node</c> listening on port 4001 of every interface of <paramref name="ns"/>.</summary>
        public ChildProcess Node(string ns, params string[] options) =>
            _lab.Start(ns, ["dotnet", P2PNetCli.Assembly, "node", "--listen", "/ip4/0.0.0.0/tcp/4001", .. options]);

        /// <summary>Runs a <c>p2pnet</c> command in <paramref name="ns"/> to its end; fails unless it exits 0.</summary>
        public async Task<ChildProcess> RunAsync(string ns, CancellationToken cancellationToken, params string[] command)
        {
            var process = _lab.Start(ns, ["dotnet", P2PNetCli.Assembly, .. command]);
            int exit = await process.WaitForExitAsync(TimeSpan.FromMinutes(3), cancellationToken);
            Assert.True(exit == 0, $"exit {exit}: {process.Diagnostics()}");
            return process;
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var service in _services)
            {
                await service.DisposeAsync();
            }
            await _lab.DisposeAsync();
        }
    }
}
