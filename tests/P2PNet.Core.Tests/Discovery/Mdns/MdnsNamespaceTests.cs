using P2PNet.Testing;
using P2PNet.Testing.Interop;
using P2PNet.Testing.Networking;
using P2PNet.Testing.Processes;

namespace P2PNet.Core.Tests.Discovery;

/// <summary>
/// mDNS with real multicast: each node is a process in its own network namespace on a shared bridge (see
/// <see cref="NamespaceLab"/>). Both must discover the other and connect.
/// </summary>
public sealed class MdnsNamespaceTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(60);

    private static string CliDll()
    {
        foreach (var configuration in new[] { "Release", "Debug" })
        {
            string path = RepositoryRoot.Combine("samples", "P2PNet.Cli", "bin", configuration, "net10.0", "p2pnet.dll");
            if (File.Exists(path))
            {
                return path;
            }
        }
        Assert.Fail("samples/P2PNet.Cli is not built: run `dotnet build P2PNet.sln -c Release` first.");
        return "";
    }

    /// <summary>A lab with <paramref name="count"/> hosts on one multicast link (10.213.0.0/24, no route anywhere else).</summary>
    private static async Task<(NamespaceLab Lab, string[] Hosts)> CreateLinkAsync(int count, CancellationToken cancellationToken)
    {
        var lab = await NamespaceLab.CreateAsync("mdns", cancellationToken);
        try
        {
            var link = await lab.AddSwitchAsync("10.213.0.0/24", cancellationToken);
            var hosts = new string[count];
            for (int i = 0; i < count; i++)
            {
                hosts[i] = await lab.AddHostAsync($"n{i}", link, $"10.213.0.{i + 10}", cancellationToken);
            }
            return (lab, hosts);
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }
    }

    private static string[] P2PNetNode(params string[] extra) =>
        ["dotnet", CliDll(), "node", "--mdns", "--mdns-interval", "1000", "--listen", "/ip4/0.0.0.0/tcp/0", .. extra];

    private static string[] JsNode() =>
        [JsLibp2p.NodeExecutable, JsLibp2p.Script, "listen", "--mdns", "--mdns-interval", "1000", "--listen", "/ip4/0.0.0.0/tcp/0"];

    private static async Task<string> PeerIdOfAsync(ChildProcess node)
    {
        string listen = await node.WaitForLineAsync(l => l.StartsWith("LISTEN ", StringComparison.Ordinal), Step);
        return listen[(listen.LastIndexOf("/p2p/", StringComparison.Ordinal) + 5)..];
    }

    private static async Task AssertDiscoversAndConnectsAsync(ChildProcess node, string other)
    {
        string discovered = await node.WaitForLineAsync(l => l.StartsWith($"DISCOVERED {other} /ip4/10.213.", StringComparison.Ordinal), Step);
        Assert.Contains("/tcp/", discovered, StringComparison.Ordinal);
        await node.WaitForLineAsync(l => l == $"CONNECT {other}", Step);
    }

    [Fact]
    public async Task Mdns_TwoP2PNetNodes_DiscoverEachOtherAndConnect()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        string dll = CliDll();
        var (lab, hosts) = await CreateLinkAsync(2, cts.Token);
        await using var labScope = lab;
        await using var a = lab.Start(hosts[0], P2PNetNode());
        await using var b = lab.Start(hosts[1], P2PNetNode());
        string idA = await PeerIdOfAsync(a), idB = await PeerIdOfAsync(b);
        try
        {
            await AssertDiscoversAndConnectsAsync(a, idB);
            await AssertDiscoversAndConnectsAsync(b, idA);
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException)
        {
            throw new TimeoutException($"{e.Message}\n{a.Diagnostics()}\n{b.Diagnostics()}", e);
        }
        Assert.NotEmpty(dll);
    }

    [Fact]
    public async Task Mdns_P2PNetAndJsLibp2p_DiscoverEachOtherAndConnect()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        JsLibp2p.EnsureInstalled();
        _ = CliDll();
        var (lab, hosts) = await CreateLinkAsync(2, cts.Token);
        await using var labScope = lab;
        await using var p2pnet = lab.Start(hosts[0], P2PNetNode());
        await using var js = lab.Start(hosts[1], JsNode(), workingDirectory: JsLibp2p.InteropDirectory);
        string idP2PNet = await PeerIdOfAsync(p2pnet), idJs = await PeerIdOfAsync(js);
        try
        {
            await AssertDiscoversAndConnectsAsync(p2pnet, idJs);
            await AssertDiscoversAndConnectsAsync(js, idP2PNet);
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException)
        {
            throw new TimeoutException($"{e.Message}\n{p2pnet.Diagnostics()}\n{js.Diagnostics()}", e);
        }
    }

    [Fact]
    public async Task Mdns_UnderASwarmKey_FindsOnlyHoldersOfTheSameKey()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        _ = CliDll();
        string dir = Directory.CreateTempSubdirectory("p2pnet-mdns-psk-").FullName;
        try
        {
            string keyFile = Path.Combine(dir, "swarm.key");
            P2PNet.Security.Pnet.SwarmKey.Generate().WriteFile(keyFile);
            var (lab, hosts) = await CreateLinkAsync(3, cts.Token);
            await using var labScope = lab;
            await using var open = lab.Start(hosts[0], P2PNetNode());
            await using var b = lab.Start(hosts[1], P2PNetNode("--psk", keyFile));
            await using var c = lab.Start(hosts[2], P2PNetNode("--psk", keyFile));
            string idOpen = await PeerIdOfAsync(open), idB = await PeerIdOfAsync(b), idC = await PeerIdOfAsync(c);
            try
            {
                await AssertDiscoversAndConnectsAsync(b, idC);
                await AssertDiscoversAndConnectsAsync(c, idB);
                // Several more query rounds (1 s each) in which the public node would have answered or been answered.
                await Task.Delay(TimeSpan.FromSeconds(4), cts.Token);
            }
            catch (Exception e) when (e is TimeoutException or InvalidOperationException)
            {
                throw new TimeoutException($"{e.Message}\n{b.Diagnostics()}\n{c.Diagnostics()}", e);
            }
            Assert.DoesNotContain($"DISCOVERED {idB}", open.Diagnostics(), StringComparison.Ordinal);
            Assert.DoesNotContain($"DISCOVERED {idC}", open.Diagnostics(), StringComparison.Ordinal);
            Assert.DoesNotContain($"DISCOVERED {idOpen}", b.Diagnostics(), StringComparison.Ordinal);
            Assert.DoesNotContain($"DISCOVERED {idOpen}", c.Diagnostics(), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
