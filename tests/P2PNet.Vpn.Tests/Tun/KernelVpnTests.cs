using System.Net;
using System.Text.Json;
using P2PNet.Testing.Interop;
using P2PNet.Testing.Networking;
using P2PNet.Testing.Processes;

namespace P2PNet.Vpn.Tests;

/// <summary>
/// The real thing: TUN devices in network namespaces joined by veth pairs to a bridge, one `p2pnet vpn up` process per
/// namespace. Needs root (CI and the dev machine run as root); without it these tests fail and say so.
/// </summary>
[Collection(KernelTestGroup.Name)]
public class KernelVpnTests
{
    [Fact]
    public async Task TunVpn_AcrossThreeNamespaces_CarriesPingAndTcp_AndARemovedMemberIsCutOff()
    {
        await using var lab = await VpnLab.CreateAsync(3);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var ids = new string[3];
        for (int i = 0; i < 3; i++)
        {
            ids[i] = (await lab.RunAsync(null, cts.Token, "dotnet", lab.Cli, "key", "new", "--out", lab.KeyFile(i))).Trim();
        }
        // The whole run is inside a PSK private swarm (P2PHostOptions.PrivateNetworkKey).
        string psk = Path.Combine(Path.GetDirectoryName(lab.KeyFile(0))!, "swarm.key");
        await File.WriteAllTextAsync(psk, "/key/swarm/psk/1.0.0/\n/base16/\n" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)) + "\n", cts.Token);
        var a = lab.Start(0, "vpn", "up", "--psk", psk, "--key", lab.KeyFile(0), "--listen", $"/ip4/{lab.Underlay(0)}/tcp/4001", "--cidr", "10.66.0.0/24",
            "--ip", "10.66.0.1", "--coordinator", "--allow", $"{ids[1]}=10.66.0.2", "--allow", ids[2], "--tun", "p2vpn0");
        Assert.Equal("VPN UP 10.66.0.1/24 dev p2vpn0", await a.WaitForLineAsync("VPN UP", cts.Token));
        // The coordinator announces its VPN id (scripts read it) and keeps it beside its key for the next run.
        string vpnId = await a.WaitForLineAsync("VPN ID", cts.Token);
        Assert.Matches("^VPN ID [0-9a-f]{32}$", vpnId);
        Assert.Equal(vpnId["VPN ID ".Length..], (await File.ReadAllTextAsync(lab.KeyFile(0) + ".vpn-id", cts.Token)).Trim());
        string join = $"/ip4/{lab.Underlay(0)}/tcp/4001/p2p/{ids[0]}";
        var b = lab.Start(1, "vpn", "up", "--psk", psk, "--key", lab.KeyFile(1), "--listen", $"/ip4/{lab.Underlay(1)}/tcp/4001", "--join", join, "--tun", "p2vpn0");
        Assert.Equal("VPN UP 10.66.0.2/24 dev p2vpn0", await b.WaitForLineAsync("VPN UP", cts.Token));
        Assert.Equal(vpnId, await b.WaitForLineAsync("VPN ID", cts.Token)); // a member learns it from the table
        var c = lab.Start(2, "vpn", "up", "--psk", psk, "--key", lab.KeyFile(2), "--listen", $"/ip4/{lab.Underlay(2)}/tcp/4001", "--join", join,
            "--ip", "10.66.0.30", "--tun", "p2vpn0", "--mtu", "1400");
        Assert.Equal("VPN UP 10.66.0.30/24 dev p2vpn0", await c.WaitForLineAsync("VPN UP", cts.Token));

        // Every pair, both ways; member-to-member traffic goes directly (B ↔ C).
        string[] vpnIps = ["10.66.0.1", "10.66.0.2", "10.66.0.30"];
        for (int from = 0; from < 3; from++)
        {
            for (int to = 0; to < 3; to++)
            {
                if (from != to)
                {
                    await lab.RunInAsync(from, cts.Token, "ping", "-c", "2", "-i", "0.2", "-W", "3", vpnIps[to]);
                }
            }
        }

        // A TCP transfer B → C through the VPN.
        await lab.RunInAsync(2, cts.Token, "iperf3", "-s", "-D", "-1", "-p", "5301");
        await lab.WaitForTcpListenerAsync(2, 5301, cts.Token); // -D returns before the daemon listens
        string report = await lab.RunInAsync(1, cts.Token, "iperf3", "-c", "10.66.0.30", "-p", "5301", "-t", "2", "-J");
        Assert.Contains("\"sum_received\"", report, StringComparison.Ordinal);

        // The coordinator removes C: nobody answers it, and it answers nobody.
        await a.Input.WriteLineAsync($"remove {ids[2]}");
        await a.Input.FlushAsync(cts.Token);
        Assert.StartsWith("REMOVED", await a.WaitForLineAsync("REMOVED", cts.Token), StringComparison.Ordinal);
        await a.Input.WriteLineAsync("status");
        await a.Input.FlushAsync(cts.Token);
        Assert.Equal($"MEMBER {ids[1]} 10.66.0.2", await a.WaitForLineAsync($"MEMBER {ids[1]}", cts.Token));
        Assert.EndsWith(" 10.66.0.0/24 2 members", await a.WaitForLineAsync("TABLE", cts.Token), StringComparison.Ordinal);
        foreach (var (from, to) in new[] { (2, 0), (2, 1), (1, 2), (0, 2) })
        {
            var failed = await Assert.ThrowsAsync<InvalidOperationException>(() =>
                lab.RunInAsync(from, cts.Token, "ping", "-c", "2", "-i", "0.2", "-W", "1", vpnIps[to]));
            Assert.Contains("exit", failed.Message, StringComparison.Ordinal);
        }
        // The others still talk.
        await lab.RunInAsync(1, cts.Token, "ping", "-c", "1", "-W", "3", "10.66.0.1");
    }

    [Fact]
    public async Task TunVpn_LargeTcpTransfers_ArriveIntact_BetweenOffloadingMembers_AndWithAMemberWithoutOffload()
    {
        await using var lab = await VpnLab.CreateAsync(3);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(150));
        var ids = new string[3];
        for (int i = 0; i < 3; i++)
        {
            ids[i] = (await lab.RunAsync(null, cts.Token, "dotnet", lab.Cli, "key", "new", "--out", lab.KeyFile(i))).Trim();
        }
        // A and B open their TUN devices with IFF_VNET_HDR and TSO (the default); C without (--no-offload), so what B
        // sends C arrives as super-packets that C segments and checksums in software. The nodes run without LowLatency:
        // with it each inner ACK reaches the sending TCP on its own, which then sends bursts of two or three segments,
        // and the bytes-per-packet check below could no longer tell super-packets from single ones (the transfers are
        // as fast either way: bidirectional iperf3 in docs/vpn.md).
        var a = lab.Start(0, "vpn", "up", "--key", lab.KeyFile(0), "--listen", $"/ip4/{lab.Underlay(0)}/tcp/4001", "--cidr", "10.67.0.0/24",
            "--ip", "10.67.0.1", "--coordinator", "--allow", $"{ids[1]}=10.67.0.2", "--allow", $"{ids[2]}=10.67.0.3", "--tun", "p2vpn0", "--no-low-latency");
        await a.WaitForLineAsync("VPN UP", cts.Token);
        string join = $"/ip4/{lab.Underlay(0)}/tcp/4001/p2p/{ids[0]}";
        var b = lab.Start(1, "vpn", "up", "--key", lab.KeyFile(1), "--listen", $"/ip4/{lab.Underlay(1)}/tcp/4001", "--join", join, "--tun", "p2vpn0", "--no-low-latency");
        await b.WaitForLineAsync("VPN UP", cts.Token);
        var c = lab.Start(2, "vpn", "up", "--key", lab.KeyFile(2), "--listen", $"/ip4/{lab.Underlay(2)}/tcp/4001", "--join", join,
            "--tun", "p2vpn0", "--no-offload", "--no-low-latency");
        await c.WaitForLineAsync("VPN UP", cts.Token);
        await lab.RunInAsync(1, cts.Token, "ping", "-c", "1", "-W", "3", "10.67.0.1");
        await lab.RunInAsync(1, cts.Token, "ping", "-c", "1", "-W", "3", "10.67.0.3");

        const long Size = 48L * 1024 * 1024;
        var a1 = IPAddress.Parse("10.67.0.1");
        var b2 = IPAddress.Parse("10.67.0.2");
        var c3 = IPAddress.Parse("10.67.0.3");
        // Both directions at once on each pair: data one way shares the stream with the other flow's ACKs.
        var transfers = await Task.WhenAll(
            NamespaceTransfer.TransferAsync(lab.Namespace(1), lab.Namespace(0), a1, 5401, Size, 1, cts.Token),
            NamespaceTransfer.TransferAsync(lab.Namespace(0), lab.Namespace(1), b2, 5402, Size, 2, cts.Token));
        transfers = [.. transfers, .. await Task.WhenAll(
            NamespaceTransfer.TransferAsync(lab.Namespace(1), lab.Namespace(2), c3, 5403, Size, 3, cts.Token),
            NamespaceTransfer.TransferAsync(lab.Namespace(2), lab.Namespace(1), b2, 5404, Size, 4, cts.Token))];
        foreach (var (sent, received, bytes) in transfers)
        {
            Assert.Equal(Size, bytes);
            Assert.Equal(sent, received);
        }

        // Super-packets really crossed: what A and C received from B averages far above one 1420-byte packet.
        foreach (var (process, name) in new[] { (a, "A"), (c, "C") })
        {
            var peers = ParseStats(await process.StopAsync());
            var fromB = peers.GetProperty(ids[1]);
            double average = fromB.GetProperty("BytesReceived").GetDouble() / fromB.GetProperty("PacketsReceived").GetDouble();
            Assert.True(average > 4000, $"{name} received {average:F0} bytes per packet from B: super-packets were not carried.");
        }
    }

    private static JsonElement ParseStats(string stderr)
    {
        string line = stderr.Split('\n').LastOrDefault(l => l.StartsWith("VPN STATS ", StringComparison.Ordinal))
            ?? throw new InvalidOperationException("The VPN printed no statistics on exit: " + stderr);
        using var document = JsonDocument.Parse(line["VPN STATS ".Length..]);
        return document.RootElement.GetProperty("peers").Clone();
    }
}

/// <summary>The kernel tests move a lot of data between processes: they run alone, after the in-process tests, so their
/// load does not eat the in-process tests' time budgets (and they do not compete with each other).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class KernelTestGroup
{
    public const string Name = "Kernel (namespaces, TUN, VPN processes)";
}

/// <summary>What the kernel tests need; each fails (never skips) with what to install when something is missing.</summary>
internal static class KernelTestRequirements
{
    public static async Task CheckAsync()
    {
        await NamespaceLab.RequireAsync(CancellationToken.None);
        await NamespaceLab.RequireToolAsync("iperf3", "iperf3", CancellationToken.None);
        await NamespaceLab.RequireToolAsync("ping", "iputils-ping", CancellationToken.None);
    }
}

/// <summary>
/// The kernel VPN tests' network on the test kit's <see cref="NamespaceLab"/>: one namespace per VPN member on one switch
/// (underlay 192.168.<i>x</i>.<i>n</i>/24), a key file per member, and the <c>p2pnet</c> processes run in them.
/// Everything is removed in <see cref="DisposeAsync"/>.
/// </summary>
internal sealed class VpnLab : IAsyncDisposable
{
    private readonly NamespaceLab _lab;
    private readonly string[] _namespaces;
    private readonly string _dir = Directory.CreateTempSubdirectory("p2pnet-vpn-").FullName;
    private readonly int _subnet;

    private VpnLab(NamespaceLab lab, string[] namespaces, int subnet)
    {
        _lab = lab;
        _namespaces = namespaces;
        _subnet = subnet;
    }

    public string Cli { get; } = P2PNetCli.Assembly;

    public string Namespace(int i) => _namespaces[i];

    public string Underlay(int i) => $"192.168.{_subnet}.{i + 1}";

    public string KeyFile(int i) => Path.Combine(_dir, $"{i}.key");

    public static async Task<VpnLab> CreateAsync(int count)
    {
        await KernelTestRequirements.CheckAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        int subnet = Random.Shared.Next(100, 250);
        var lab = await NamespaceLab.CreateAsync("vpn", cts.Token);
        try
        {
            var underlay = await lab.AddSwitchAsync($"192.168.{subnet}.0/24", cts.Token);
            var namespaces = new string[count];
            for (int i = 0; i < count; i++)
            {
                namespaces[i] = await lab.AddHostAsync(i.ToString(System.Globalization.CultureInfo.InvariantCulture), underlay, $"192.168.{subnet}.{i + 1}", cts.Token);
            }
            return new VpnLab(lab, namespaces, subnet);
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts <c>p2pnet ARGS</c> in member <paramref name="ns"/>'s namespace, stdin open for commands.</summary>
    public ChildProcess Start(int ns, params string[] arguments) =>
        _lab.Start(Namespace(ns), ["dotnet", Cli, .. arguments], keepInput: true);

    public Task<string> RunAsync(int? ns, CancellationToken ct, params string[] command) =>
        _lab.ExecAsync(ns is null ? null : Namespace(ns.Value), ct, command);

    public Task<string> RunInAsync(int ns, CancellationToken ct, params string[] command) => _lab.ExecAsync(Namespace(ns), ct, command);

    /// <summary>Waits until something listens on TCP <paramref name="port"/> in namespace <paramref name="ns"/>
    /// (the caller's token bounds the wait).</summary>
    public Task WaitForTcpListenerAsync(int ns, int port, CancellationToken ct) =>
        _lab.WaitForTcpListenerAsync(Namespace(ns), port, TimeSpan.FromSeconds(60), ct);

    public async ValueTask DisposeAsync()
    {
        await _lab.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}
