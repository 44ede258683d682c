using System.Net;
using P2PNet.Testing.Networking;

namespace P2PNet.Core.Tests.TestKit;

/// <summary>
/// The test kit's network-namespace lab for real: hosts on switches, a router with an nftables masquerade (the NAT
/// the tunnel and gateway tests build on), sockets and commands inside namespaces, and cleanup. Needs root, as CI has.
/// </summary>
public sealed class NamespaceLabTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(60);

    private static readonly IPAddress ServerAddress = IPAddress.Parse("10.77.0.10");

    [Fact]
    public async Task HostBehindAMasqueradingRouter_ReachesAWanServer_WhichSeesTheRoutersAddress()
    {
        using var cts = new CancellationTokenSource(Step);
        await using var lab = await NamespaceLab.CreateAsync("testkit", cts.Token);
        var wan = await lab.AddSwitchAsync("10.77.0.0/24", cts.Token);
        var lan = await lab.AddSwitchAsync("10.78.0.0/24", cts.Token);
        string server = await lab.AddHostAsync("server", wan, "10.77.0.10", cts.Token);
        string router = await lab.AddRouterAsync("router", wan, "10.77.0.1", lan, "10.78.0.1", cts.Token);
        await lab.MasqueradeAsync(router, wan, cts.Token);
        string client = await lab.AddHostAsync("client", lan, "10.78.0.10", cts.Token, gateway: "10.78.0.1");

        using var listener = NamespaceLab.CreateSocket(server);
        listener.Bind(new IPEndPoint(ServerAddress, 7000));
        listener.Listen(1);
        using var socket = NamespaceLab.CreateSocket(client);
        var accept = listener.AcceptAsync(cts.Token).AsTask();
        // The server has no route back to 10.78.0.0/24: only the masquerade lets the handshake complete.
        await socket.ConnectAsync(new IPEndPoint(ServerAddress, 7000), cts.Token).AsTask().WaitAsync(Step);
        using var accepted = await accept.WaitAsync(Step);
        Assert.Equal(IPAddress.Parse("10.77.0.1"), ((IPEndPoint)accepted.RemoteEndPoint!).Address);
        Assert.Equal("eth0", lab.InterfaceOn(router, wan));
        Assert.Equal("eth1", lab.InterfaceOn(router, lan));
    }

    [Fact]
    public async Task StartAndExec_RunInsideTheNamespace_AndAFailedCommandSaysItsExitCode()
    {
        using var cts = new CancellationTokenSource(Step);
        await using var lab = await NamespaceLab.CreateAsync("testkit", cts.Token);
        var link = await lab.AddSwitchAsync("10.79.0.0/24", cts.Token);
        string host = await lab.AddHostAsync("a", link, "10.79.0.5", cts.Token);

        var process = lab.Start(host, ["sh", "-c", "ip -4 -o addr show dev eth0; sleep 60"]);
        Assert.Contains("10.79.0.5/24", await process.WaitForLineAsync(l => l.Contains("inet ", StringComparison.Ordinal), Step), StringComparison.Ordinal);
        Assert.Contains("10.79.0.5", await lab.ExecAsync(host, cts.Token, "ip", "-4", "-o", "addr", "show", "dev", "eth0"), StringComparison.Ordinal);
        var failed = await Assert.ThrowsAsync<InvalidOperationException>(() => lab.ExecAsync(host, cts.Token, "sh", "-c", "exit 7"));
        Assert.Contains("exit 7", failed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dispose_DeletesEveryNamespaceOfTheLab_AndStopsItsProcesses()
    {
        using var cts = new CancellationTokenSource(Step);
        var lab = await NamespaceLab.CreateAsync("testkit", cts.Token);
        var link = await lab.AddSwitchAsync("10.80.0.0/24", cts.Token);
        await lab.AddHostAsync("a", link, "10.80.0.5", cts.Token);
        var process = lab.Start(lab.Namespaces[1], ["sleep", "300"]);
        var names = lab.Namespaces;
        Assert.Equal(2, names.Count);

        await lab.DisposeAsync().AsTask().WaitAsync(Step);

        Assert.NotNull(process.ExitCode);
        string list = await lab.ExecAsync(null, cts.Token, "ip", "netns", "list");
        Assert.All(names, ns => Assert.DoesNotContain(ns, list, StringComparison.Ordinal));
    }
}
