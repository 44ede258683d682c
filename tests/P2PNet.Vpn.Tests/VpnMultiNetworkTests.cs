using System.Net;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Testing;
using P2PNet.Vpn.Internal;
using P2PNet.Vpn.Protos;

namespace P2PNet.Vpn.Tests;

/// <summary>Several VPNs on one set of hosts, told apart by the VPN id their streams carry: two coordinators on one host,
/// a coordinator and a member of another VPN on one host, two memberships on one host — all with the same address range,
/// so a packet delivered to the wrong VPN would land on an address that exists there too.</summary>
public class VpnMultiNetworkTests
{
    private static readonly TimeSpan Timeout = VpnCluster.Timeout;

    [Fact]
    public async Task ThreeVpns_OnTheSameHosts_CarryPacketsEach_WithoutCrosstalk()
    {
        await using var hosts = await MultiVpnHosts.CreateAsync(3);
        using var cts = new CancellationTokenSource(Timeout);
        // Host 0 coordinates A and B; host 1 coordinates C. Host 1 is a member of A and B, host 0 of C, host 2 of A.
        var a = hosts.Coordinator(0, ".1");
        var b = hosts.Coordinator(0, ".1");
        var c = hosts.Coordinator(1, ".1");
        await a.StartAsync([hosts.Request(1, ".2"), hosts.Request(2, ".3")], cts.Token);
        await b.StartAsync([hosts.Request(1, ".2")], cts.Token);
        await c.StartAsync([hosts.Request(0, ".2")], cts.Token);
        var a1 = hosts.Member(1, a.VpnId);
        var a2 = hosts.Member(2, a.VpnId);
        var b1 = hosts.Member(1, b.VpnId);
        var c0 = hosts.Member(0, vpnId: null); // host 1 coordinates one VPN: the bare join reaches it
        await a1.JoinAsync(hosts.Address(0), null, cts.Token);
        await a2.JoinAsync(hosts.Address(0), null, cts.Token);
        await b1.JoinAsync(hosts.Address(0), null, cts.Token);
        await c0.JoinAsync(hosts.Address(1), null, cts.Token);

        Assert.Equal(3, new[] { a.VpnId, b.VpnId, c.VpnId }.Distinct().Count());
        Assert.Equal(c.VpnId, c0.VpnId);
        Assert.All(new[] { a1, a2, b1, c0 }, m => Assert.True(VpnIds.IsValid(m.VpnId)));
        Assert.Equal(IPAddress.Parse("10.60.0.2"), a1.Address);
        Assert.Equal(IPAddress.Parse("10.60.0.2"), b1.Address);
        Assert.Equal(IPAddress.Parse("10.60.0.2"), c0.Address);

        // One packet per direction of interest, each with its own marker, in every VPN.
        await Send(hosts.Device(a1), ".2", ".1", 0xA1);
        await Send(hosts.Device(a2), ".3", ".2", 0xA2);
        await Send(hosts.Device(b1), ".2", ".1", 0xB1);
        await Send(hosts.Device(c0), ".2", ".1", 0xC1);
        await Send(hosts.Device(c), ".1", ".2", 0xC2);
        Assert.Equal(0xA1, (await hosts.Device(a).ReceiveAsync(cts.Token))[20]);
        Assert.Equal(0xA2, (await hosts.Device(a1).ReceiveAsync(cts.Token))[20]);
        Assert.Equal(0xB1, (await hosts.Device(b).ReceiveAsync(cts.Token))[20]);
        Assert.Equal(0xC1, (await hosts.Device(c).ReceiveAsync(cts.Token))[20]);
        Assert.Equal(0xC2, (await hosts.Device(c0).ReceiveAsync(cts.Token))[20]);

        // Each endpoint counted exactly the packets of its own VPN, and no device holds anything else.
        Assert.Equal(1, Received(a, hosts.Hosts[1]));
        Assert.Equal(0, Received(a, hosts.Hosts[2]));
        Assert.Equal(1, Received(b, hosts.Hosts[1]));
        Assert.Equal(1, Received(c, hosts.Hosts[0]));
        Assert.Equal(1, Received(c0, hosts.Hosts[1]));
        Assert.Equal(1, Received(a1, hosts.Hosts[2]));
        Assert.Equal(0, Received(b1, hosts.Hosts[0]));
        foreach (var endpoint in new VpnEndpoint[] { a, b, c, a1, a2, b1, c0 })
        {
            Assert.False(hosts.Device(endpoint).TryReceive(out _), $"VPN {endpoint.VpnId} on {endpoint.Host.PeerId} got a stray packet");
            Assert.Equal(0, endpoint.GetStatistics().Drops.Values.Sum());
        }
    }

    [Fact]
    public async Task MemberOfOneVpn_CannotInjectIntoAnother_NorPushItATable()
    {
        await using var hosts = await MultiVpnHosts.CreateAsync(3);
        using var cts = new CancellationTokenSource(Timeout);
        var a = hosts.Coordinator(0, ".1");
        var b = hosts.Coordinator(0, ".1");
        await a.StartAsync([hosts.Request(1, ".2"), hosts.Request(2, ".3")], cts.Token);
        await b.StartAsync([hosts.Request(1, ".2")], cts.Token);
        var a2 = hosts.Member(2, a.VpnId);
        var b1 = hosts.Member(1, b.VpnId);
        await a2.JoinAsync(hosts.Address(0), null, cts.Token);
        await b1.JoinAsync(hosts.Address(0), null, cts.Token);

        // Host 2, a member of A only, opens B's data protocol to B's coordinator and sends a packet that would be valid in
        // B (host 1's B address to the coordinator's): B does not know host 2, and refuses the stream unread.
        bool refused = false;
        try
        {
            var stream = await hosts.Hosts[2].OpenStreamAsync(hosts.Hosts[0].PeerId, b.IpProtocol, cts.Token);
            await using (stream)
            {
                PacketFraming.Write(stream.Output, Packets.IPv4(Ip(".2"), Ip(".1"), [0x66]));
                await stream.Output.FlushAsync(cts.Token);
                refused = (await stream.Input.ReadAsync(cts.Token)).IsCompleted;
            }
        }
        catch (IOException) // StreamResetException included: refused during or right after negotiation
        {
            refused = true;
        }
        Assert.True(refused);

        // B still works, and what B's coordinator receives is B's member's packet only.
        await Send(hosts.Device(b1), ".2", ".1", 0xB1);
        Assert.Equal(0xB1, (await hosts.Device(b).ReceiveAsync(cts.Token))[20]);
        Assert.False(hosts.Device(b).TryReceive(out _));
        Assert.False(b.GetStatistics().Peers.ContainsKey(hosts.Hosts[2].PeerId.ToString()));
        Assert.False(hosts.Device(a).TryReceive(out _));

        // A table of VPN A, correctly signed by the coordinator both VPNs share, is refused by B's member.
        var tableOfA = a.RoutingTable! with { Version = b1.RoutingTable!.Version + 10, Epoch = b1.RoutingTable.Epoch };
        var held = b1.RoutingTable;
        var answer = await VpnControlTestPeer.ExchangeAsync(hosts.Hosts[0], b1,
            new ControlMessage { Table = TableCodec.Sign(tableOfA, hosts.Hosts[0].Options.Identity!) }, cts.Token);
        Assert.NotNull(answer);
        Assert.False(answer.TableAck.Accepted);
        Assert.Contains(a.VpnId!, answer.TableAck.Reason, StringComparison.Ordinal);
        Assert.Same(held, b1.RoutingTable);
    }

    [Fact]
    public async Task JoinWithoutVpnId_ToAHostCoordinatingTwoVpns_IsRefusedWithAReason_AndWithTheIdSucceeds()
    {
        await using var hosts = await MultiVpnHosts.CreateAsync(2);
        using var cts = new CancellationTokenSource(Timeout);
        var a = hosts.Coordinator(0, ".1");
        var b = hosts.Coordinator(0, ".1");
        await a.StartAsync([hosts.Request(1, null)], cts.Token);
        await b.StartAsync([hosts.Request(1, null)], cts.Token);

        var unnamed = hosts.Member(1, vpnId: null);
        var e = await Assert.ThrowsAsync<VpnJoinRejectedException>(() => unnamed.JoinAsync(hosts.Address(0), null, cts.Token));
        Assert.Contains("VPN", e.Message, StringComparison.Ordinal);
        Assert.Null(unnamed.VpnId);

        var named = hosts.Member(1, b.VpnId);
        var table = await named.JoinAsync(hosts.Address(0), null, cts.Token);
        Assert.Equal(b.VpnId, table.VpnId);
        Assert.Equal(b.VpnId, named.VpnId);
        Assert.NotNull(named.Address);
    }

    [Fact]
    public async Task SecondEndpoint_WithTheSameVpnIdOnOneHost_IsRefused_AndTheFirstKeepsServing()
    {
        await using var hosts = await MultiVpnHosts.CreateAsync(2);
        using var cts = new CancellationTokenSource(Timeout);
        var a = hosts.Coordinator(0, ".1");
        await a.StartAsync([hosts.Request(1, ".2")], cts.Token);
        var duplicate = hosts.Coordinator(0, ".1", a.VpnId);
        await Assert.ThrowsAsync<InvalidOperationException>(() => duplicate.StartAsync([], cts.Token));

        var a1 = hosts.Member(1, a.VpnId);
        await a1.JoinAsync(hosts.Address(0), null, cts.Token);
        await Send(hosts.Device(a1), ".2", ".1", 0xA1);
        Assert.Equal(0xA1, (await hosts.Device(a).ReceiveAsync(cts.Token))[20]);
        Assert.Null(duplicate.RoutingTable);
    }

    private static IPAddress Ip(string host) => IPAddress.Parse("10.60.0" + host);

    private static ValueTask Send(UserSpacePacketDevice device, string from, string to, byte marker) =>
        device.SendAsync(Packets.IPv4(Ip(from), Ip(to), [marker]));

    private static long Received(VpnEndpoint endpoint, P2PHost peer) =>
        endpoint.GetStatistics().Peers.TryGetValue(peer.PeerId.ToString(), out var s) ? s.PacketsReceived : 0;

    /// <summary>In-process hosts on which tests place any number of VPN endpoints, each on a user-space device of its own,
    /// all in 10.60.0.0/24.</summary>
    private sealed class MultiVpnHosts : IAsyncDisposable
    {
        private readonly PrivateKey[] _keys;
        private readonly List<VpnEndpoint> _endpoints = [];
        private readonly Dictionary<VpnEndpoint, UserSpacePacketDevice> _devices = [];

        private MultiVpnHosts(TestHostGroup hosts, PrivateKey[] keys)
        {
            Hosts = hosts;
            _keys = keys;
        }

        public TestHostGroup Hosts { get; }

        public static async Task<MultiVpnHosts> CreateAsync(int count)
        {
            var keys = Enumerable.Range(0, count).Select(_ => PrivateKey.GenerateEd25519()).ToArray();
            var hosts = await TestHostGroup.StartAsync(count, (i, o) => o.Identity = keys[i]);
            return new MultiVpnHosts(hosts, keys);
        }

        public VpnCoordinator Coordinator(int host, string address, string? vpnId = null) =>
            Add(new VpnCoordinator(Hosts[host], NewDevice(out var device), Options(vpnId, Ip(address))), device);

        public VpnMember Member(int host, string? vpnId) =>
            Add(new VpnMember(Hosts[host], NewDevice(out var device), Options(vpnId, null)), device);

        public VpnMemberRequest Request(int host, string? address) =>
            new(Hosts[host].PeerId, address is null ? null : Ip(address));

        public Multiaddr Address(int host) => Hosts[host].ListenAddresses[0].WithPeerId(Hosts[host].PeerId);

        public UserSpacePacketDevice Device(VpnEndpoint endpoint) => _devices[endpoint];

        public async ValueTask DisposeAsync()
        {
            foreach (var endpoint in _endpoints)
            {
                await endpoint.DisposeAsync();
            }
            foreach (var device in _devices.Values)
            {
                await device.DisposeAsync();
            }
            await Hosts.DisposeAsync();
            foreach (var key in _keys)
            {
                key.Dispose();
            }
        }

        private static VpnOptions Options(string? vpnId, IPAddress? address) =>
            new() { VpnId = vpnId, Network = IPNetwork.Parse("10.60.0.0/24"), Address = address };

        private static UserSpacePacketDevice NewDevice(out UserSpacePacketDevice device) => device = new UserSpacePacketDevice();

        private T Add<T>(T endpoint, UserSpacePacketDevice device)
            where T : VpnEndpoint
        {
            _endpoints.Add(endpoint);
            _devices[endpoint] = device;
            return endpoint;
        }
    }
}
