using P2PNet.Testing.Interop;
using P2PNet.Testing.Networking;
using P2PNet.Testing.Processes;

namespace P2PNet.Core.Tests.NatTraversal;

/// <summary>
/// AutoNAT and DCUtR against js-libp2p (<c>@libp2p/autonat-v2</c> 2.0.15, <c>@libp2p/autonat</c> 3.0.28,
/// <c>@libp2p/dcutr</c> 3.0.28), in network namespaces on public-looking addresses (44.0.0.0/24): js-libp2p treats
/// every private, loopback and documentation range as private and will neither dial back nor hole-punch to them.
/// </summary>
[Collection(NatLabGroup.Name)]
public sealed class NatJsInteropTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(60);

    [Fact]
    public Task P2PNetAutoNatClient_WithAJsAutoNatV2Server_ConcludesPublic() =>
        WithJsAndNodeAsync("--autonat-service", "--autonat",
            (js, node, ct) => node.WaitForLineAsync(l => l == "REACHABILITY public", Step, ct));

    // js advertises a public listen address only once an AutoNAT server confirmed it: here the only server is ours.
    [Fact]
    public Task JsAutoNatClient_WithAP2PNetAutoNatServer_ConfirmsItsAddress() =>
        WithJsAndNodeAsync("--autonat-service", "--autonat-service", JsConfirmedAsync);

    // js with AutoNAT v1 only: the confirmation can only come from our v1 server.
    [Fact]
    public Task JsAutoNatV1Client_WithAP2PNetAutoNatServer_ConfirmsItsAddress() =>
        WithJsAndNodeAsync("--autonat-v1", "--autonat-service", JsConfirmedAsync);

    private static Task JsConfirmedAsync(ChildProcess js, ChildProcess node, CancellationToken cancellationToken) =>
        js.WaitForLineAsync(l => l.StartsWith("ADDRESS /ip4/44.0.0.10/tcp/4001", StringComparison.Ordinal), Step, cancellationToken);

    /// <summary>A js node at 44.0.0.10 (with <paramref name="jsOption"/>) and a p2pnet node at 44.0.0.20 that
    /// bootstraps to it (with <paramref name="nodeOption"/>), on one switch; <paramref name="outcome"/> waits for what
    /// the test expects.</summary>
    private static async Task WithJsAndNodeAsync(string jsOption, string nodeOption, Func<ChildProcess, ChildProcess, CancellationToken, Task> outcome)
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await using var lab = await NamespaceLab.CreateAsync("relay", cancel.Token);
        var net = await lab.AddSwitchAsync("44.0.0.0/24", cancel.Token);
        string jsNs = await lab.AddHostAsync("js", net, "44.0.0.10", cancel.Token);
        string dotnetNs = await lab.AddHostAsync("dotnet", net, "44.0.0.20", cancel.Token);
        await using var js = lab.Start(jsNs, [JsLibp2p.NodeExecutable, JsLibp2p.Script, "listen", "--listen", "/ip4/44.0.0.10/tcp/4001", jsOption]);
        string jsAddress = await JsListenAsync(js, "/ip4/44.0.0.10/", cancel.Token);
        await using var node = lab.Start(dotnetNs, ["dotnet", P2PNetCli.Assembly, "node", "--listen", "/ip4/0.0.0.0/tcp/4001", "--bootstrap", jsAddress, nodeOption]);
        await outcome(js, node, cancel.Token);
    }

    [Fact]
    public async Task JsBehindNat_ReachedThroughAP2PNetRelay_UpgradesToDirect_WithAP2PNetPeer()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await using var lab = await NamespaceLab.CreateAsync("relay", cancel.Token);
        var wan = await lab.AddSwitchAsync("44.0.0.0/24", cancel.Token);
        var lan = await lab.AddSwitchAsync("10.83.0.0/24", cancel.Token);
        string relayNs = await lab.AddHostAsync("relay", wan, "44.0.0.30", cancel.Token);
        string dotnetNs = await lab.AddHostAsync("dotnet", wan, "44.0.0.20", cancel.Token);
        string router = await lab.AddRouterAsync("router", wan, "44.0.0.3", lan, "10.83.0.1", cancel.Token);
        await lab.MasqueradeAsync(router, wan, cancel.Token, firewall: true);
        string jsNs = await lab.AddHostAsync("js", lan, "10.83.0.10", cancel.Token, gateway: "10.83.0.1");

        await using var relay = lab.Start(relayNs, ["dotnet", P2PNetCli.Assembly, "node", "--listen", "/ip4/44.0.0.30/tcp/4001", "--relay-service"]);
        string relayAddress = (await relay.WaitForLineAsync("LISTEN ", "/ip4/44.0.0.30/", Step, cancel.Token))["LISTEN ".Length..];
        await using var js = lab.Start(jsNs, [JsLibp2p.NodeExecutable, JsLibp2p.Script, "listen", "--listen", "/ip4/10.83.0.10/tcp/4001",
            "--listen", relayAddress + "/p2p-circuit", "--dcutr"]);
        string circuit = (await js.WaitForLineAsync("RESERVED ", null, Step, cancel.Token))["RESERVED ".Length..];

        // The js peer received the relayed connection, so it upgrades: our listen address is public, and it dials it.
        await using var ping = lab.Start(dotnetNs, ["dotnet", P2PNetCli.Assembly, "ping", circuit, "--count", "2", "--timeout", "60",
            "--listen", "/ip4/0.0.0.0/tcp/4001", "--direct-wait", "30"]);
        Assert.Equal(0, await ping.WaitForExitAsync(TimeSpan.FromMinutes(2), cancel.Token));
        Assert.Contains(ping.Lines, l => l.StartsWith("DIRECT ", StringComparison.Ordinal) && l.Contains("/ip4/44.0.0.3/tcp/", StringComparison.Ordinal));
        Assert.Equal(2, ping.Lines.Count(l => l.Contains("rtt_ms", StringComparison.Ordinal)));
        await js.WaitForLineAsync(l => l.StartsWith("CONNECTION ", StringComparison.Ordinal) && l.EndsWith(" direct", StringComparison.Ordinal)
            && l.Contains("/ip4/44.0.0.20/tcp/4001", StringComparison.Ordinal), Step, cancel.Token);
    }

    private static async Task<string> JsListenAsync(ChildProcess js, string fragment, CancellationToken cancellationToken) =>
        (await js.WaitForLineAsync("LISTEN ", fragment, Step, cancellationToken))["LISTEN ".Length..];
}
