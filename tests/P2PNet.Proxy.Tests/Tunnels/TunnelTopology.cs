using P2PNet.Testing.Networking;
using P2PNet.Testing.Processes;

namespace P2PNet.Proxy.Tests.Tunnels;

/// <summary>
/// The P2P VPS topology on the test kit's <see cref="NamespaceLab"/> (prefix <c>tunnel</c>, deleted on dispose even
/// after a failure):
/// <code>
///   device 10.201.1.2 ── 10.201.1.1 router (nftables masquerade) 10.201.2.1 ── 10.201.2.2 server 10.201.3.1 ── 10.201.3.2 renter
/// </code>
/// The device reaches the server only through the masquerading router; the server and the renter have no route to the
/// device's network, so every renter connection to the device goes through the tunnel. Needs root, <c>ip</c> and <c>nft</c>.
/// </summary>
internal sealed class TunnelTopology : IAsyncDisposable
{
    public const string ServerPublicAddress = "10.201.3.1";
    public const string ServerDeviceSideAddress = "10.201.2.2";
    public const string DeviceAddress = "10.201.1.2";

    /// <summary>How long one command run to completion may take (a 256 MiB transfer over ssh included).</summary>
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(4);

    private readonly NamespaceLab _lab;

    private TunnelTopology(NamespaceLab lab) => _lab = lab;

    public string Device { get; private set; } = "";

    public string Router { get; private set; } = "";

    public string Server { get; private set; } = "";

    public string Renter { get; private set; } = "";

    public static async Task<TunnelTopology> CreateAsync(CancellationToken cancellationToken)
    {
        var topology = new TunnelTopology(await NamespaceLab.CreateAsync("tunnel", cancellationToken));
        try
        {
            var lab = topology._lab;
            var deviceLan = await lab.AddSwitchAsync("10.201.1.0/24", cancellationToken);
            var serverLan = await lab.AddSwitchAsync("10.201.2.0/24", cancellationToken);
            var publicLan = await lab.AddSwitchAsync("10.201.3.0/24", cancellationToken);
            topology.Router = await lab.AddRouterAsync("rtr", serverLan, "10.201.2.1", deviceLan, "10.201.1.1", cancellationToken);
            await lab.MasqueradeAsync(topology.Router, serverLan, cancellationToken);
            topology.Device = await lab.AddHostAsync("dev", deviceLan, DeviceAddress, cancellationToken, gateway: "10.201.1.1");
            topology.Server = await lab.AddHostAsync("srv", serverLan, ServerDeviceSideAddress, cancellationToken);
            await lab.AddInterfaceAsync(topology.Server, publicLan, ServerPublicAddress, cancellationToken);
            topology.Renter = await lab.AddHostAsync("rnt", publicLan, "10.201.3.2", cancellationToken);
            return topology;
        }
        catch
        {
            await topology.DisposeAsync();
            throw;
        }
    }

    /// <summary>Runs a command in a namespace to completion; a non-zero exit throws with its output.</summary>
    public async Task<ProcessRunResult> ExecAsync(string ns, IReadOnlyList<string> command, CancellationToken cancellationToken) =>
        (await TryExecAsync(ns, command, cancellationToken)).EnsureSuccess();

    /// <summary>Runs a command in a namespace to completion; its exit code is returned, not thrown.</summary>
    public Task<ProcessRunResult> TryExecAsync(string ns, IReadOnlyList<string> command, CancellationToken cancellationToken) =>
        ChildProcess.RunAsync("ip", ["netns", "exec", ns, .. command], CommandTimeout, cancellationToken);

    /// <summary>Starts a long-running command in a namespace, its stdout lines awaitable; stopped with the topology at the latest.</summary>
    public ChildProcess Start(string ns, IReadOnlyList<string> command) => _lab.Start(ns, command);

    public ValueTask DisposeAsync() => _lab.DisposeAsync();
}
