using System.Net;
using P2PNet.Crypto;
using P2PNet.Testing;
using P2PNet.Vpn;
using P2PNet.Vpn.NetStack;

namespace P2PNet.Proxy.Tests.Inbound;

/// <summary>A two-host VPN on user-space devices, a user-space stack on each end: host 0 (the coordinator) is the
/// "service" member, host 1 the "proxy" member where an inbound forwarder runs. No TUN, no root.</summary>
internal sealed class InboundVpnLab : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private readonly TestHostGroup _hosts;
    private readonly PrivateKey[] _keys;
    private readonly VpnEndpoint[] _vpns;
    private readonly UserSpacePacketDevice[] _devices;
    private readonly List<IPStack> _stacks = [];

    private InboundVpnLab(TestHostGroup hosts, PrivateKey[] keys, VpnEndpoint[] vpns, UserSpacePacketDevice[] devices)
    {
        _hosts = hosts;
        _keys = keys;
        _vpns = vpns;
        _devices = devices;
    }

    /// <summary>The service member's stack (at its VPN address).</summary>
    public IPStack Service => _stacks[0];

    /// <summary>The proxy member's stack.</summary>
    public IPStack Proxy => _stacks[1];

    /// <summary>The proxy's membership (its routing table names the service's address).</summary>
    public VpnEndpoint ProxyVpn => _vpns[1];

    /// <summary>The service member's peer id.</summary>
    public string ServicePeerId => _hosts[0].PeerId.ToString();

    /// <summary>The VPN's id.</summary>
    public string VpnId => _vpns[0].VpnId!;

    public static async Task<InboundVpnLab> StartAsync(CancellationToken ct)
    {
        // The coordinator signs routing tables with its host's identity key: each host gets one it can be given.
        PrivateKey[] keys = [PrivateKey.GenerateEd25519(), PrivateKey.GenerateEd25519()];
        var hosts = await TestHostGroup.StartAsync(2, (i, o) => o.Identity = keys[i], cancellationToken: ct);
        string vpnId = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
        UserSpacePacketDevice[] devices = [new(), new()];
        var coordinator = new VpnCoordinator(hosts[0], devices[0],
            new VpnOptions { VpnId = vpnId, Network = IPNetwork.Parse("10.50.0.0/24"), Address = IPAddress.Parse("10.50.0.1") });
        var member = new VpnMember(hosts[1], devices[1], new VpnOptions { VpnId = vpnId });
        var lab = new InboundVpnLab(hosts, keys, [coordinator, member], devices);
        try
        {
            await coordinator.StartAsync([new VpnMemberRequest(hosts[1].PeerId)], ct);
            await member.JoinAsync(hosts[0].ListenAddresses[0].WithPeerId(hosts[0].PeerId), null, ct);
            // Joining waits for the table only; packets flow once the data stream is up at both ends.
            await Conditions.WaitUntilAsync(() => Connected(coordinator, hosts[1]) && Connected(member, hosts[0]), Timeout,
                "the VPN data stream did not come up", ct);
            foreach (var device in devices)
            {
                IPAddress address = await device.Configured.WaitAsync(ct);
                var stack = new IPStack(device.ApplicationEnd, address, new NetStackOptions { Mtu = device.Mtu });
                lab._stacks.Add(stack);
                await stack.StartAsync(ct);
            }
            return lab;
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }
    }

    private static bool Connected(VpnEndpoint vpn, P2PNet.Host.P2PHost peer) =>
        vpn.GetStatistics().Peers.TryGetValue(peer.PeerId.ToString(), out var link) && link.Connected;

    public async ValueTask DisposeAsync()
    {
        foreach (var stack in _stacks)
        {
            await stack.DisposeAsync();
        }
        foreach (var vpn in _vpns)
        {
            await vpn.DisposeAsync();
        }
        foreach (var device in _devices)
        {
            await device.DisposeAsync();
        }
        await _hosts.DisposeAsync();
        foreach (var key in _keys)
        {
            key.Dispose();
        }
    }
}
