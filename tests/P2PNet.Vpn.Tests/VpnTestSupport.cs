using System.Buffers.Binary;
using System.Net;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.Security.Pnet;
using P2PNet.Testing;

namespace P2PNet.Vpn.Tests;

/// <summary>N in-process hosts, each with a VPN endpoint on a user-space device: host 0's is a <see cref="VpnCoordinator"/>,
/// the others' are <see cref="VpnMember"/>s; all are given the same VPN id (<see cref="VpnId"/>) unless configured otherwise.</summary>
internal sealed class VpnCluster : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private readonly PrivateKey[] _keys;

    private VpnCluster(TestHostGroup hosts, PrivateKey[] keys, VpnEndpoint[] vpns, UserSpacePacketDevice[] devices, IPacketDevice[] attached)
    {
        Hosts = hosts;
        _keys = keys;
        Vpns = vpns;
        Devices = devices;
        Attached = attached;
    }

    public TestHostGroup Hosts { get; }

    public VpnEndpoint[] Vpns { get; }

    /// <summary>The VPN id given to every endpoint (their options may override it).</summary>
    public string VpnId { get; private init; } = "";

    /// <summary>Host 0's endpoint, the coordinator.</summary>
    public VpnCoordinator Coordinator => (VpnCoordinator)Vpns[0];

    /// <summary>Host <paramref name="i"/>'s endpoint (i ≥ 1), a member.</summary>
    public VpnMember Member(int i) => (VpnMember)Vpns[i];

    /// <summary>The user-space device of each member (unused for members given a device of their own).</summary>
    public UserSpacePacketDevice[] Devices { get; }

    /// <summary>The device each member's VPN actually uses.</summary>
    public IPacketDevice[] Attached { get; }

    public static async Task<VpnCluster> CreateAsync(int count, SwarmKey? psk = null, Action<VpnOptions>? configure = null,
        Func<int, IPacketDevice?>? device = null, Action<int, VpnOptions>? configureEach = null)
    {
        var keys = Enumerable.Range(0, count).Select(_ => PrivateKey.GenerateEd25519()).ToArray();
        var hosts = await TestHostGroup.StartAsync(count, (i, o) => { o.Identity = keys[i]; o.PrivateNetworkKey = psk; });
        var devices = Enumerable.Range(0, count).Select(_ => new UserSpacePacketDevice()).ToArray();
        var attached = Enumerable.Range(0, count).Select(i => device?.Invoke(i) ?? devices[i]).ToArray();
        string vpnId = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
        var vpns = Enumerable.Range(0, count).Select(i =>
        {
            var options = new VpnOptions { VpnId = vpnId, Network = IPNetwork.Parse("10.50.0.0/24"), Address = IPAddress.Parse("10.50.0.1") };
            configure?.Invoke(options);
            configureEach?.Invoke(i, options);
            return i == 0
                ? (VpnEndpoint)new VpnCoordinator(hosts[i], attached[i], options)
                : new VpnMember(hosts[i], attached[i], options);
        }).ToArray();
        return new VpnCluster(hosts, keys, vpns, devices, attached) { VpnId = vpnId };
    }

    public P2PNet.Multiformats.Multiaddr CoordinatorAddress => Hosts[0].ListenAddresses[0].WithPeerId(Hosts[0].PeerId);

    /// <summary>Starts host 0 as coordinator admitting the others, and joins them all.</summary>
    public async Task StartAllAsync()
    {
        using var cts = new CancellationTokenSource(Timeout);
        await Coordinator.StartAsync(Enumerable.Range(1, Vpns.Length - 1).Select(i => new VpnMemberRequest(Hosts[i].PeerId)), cts.Token);
        for (int i = 1; i < Vpns.Length; i++)
        {
            await Member(i).JoinAsync(CoordinatorAddress, null, cts.Token);
        }
        await WaitUntilAsync(() => Vpns.All(v => v.RoutingTable?.Version == Vpns[0].RoutingTable!.Version));
    }

    /// <summary>Waits until the data stream between members <paramref name="a"/> and <paramref name="b"/> is up at both
    /// ends. <see cref="StartAllAsync"/> waits only for the tables: a link whose first dial came before the peer joined is
    /// redialed with backoff, and its coming up later pushes the current table (the coordinator's link-up path).</summary>
    public Task WaitForDataStreamAsync(int a, int b) => WaitUntilAsync(() =>
        Vpns[a].GetStatistics().Peers.TryGetValue(Hosts[b].PeerId.ToString(), out var ab) && ab.Connected
        && Vpns[b].GetStatistics().Peers.TryGetValue(Hosts[a].PeerId.ToString(), out var ba) && ba.Connected);

    public static Task WaitUntilAsync(Func<bool> condition, TimeSpan? timeout = null) =>
        Conditions.WaitUntilAsync(condition, timeout ?? Timeout, "the VPN cluster did not reach the awaited state");

    public async ValueTask DisposeAsync()
    {
        foreach (var vpn in Vpns)
        {
            await vpn.DisposeAsync();
        }
        foreach (var device in Devices.Concat(Attached).Distinct())
        {
            await device.DisposeAsync();
        }
        await Hosts.DisposeAsync();
        foreach (var key in _keys)
        {
            key.Dispose();
        }
    }
}

internal static class Packets
{
    /// <summary>A minimal IPv4/UDP-shaped packet (protocol 17) from <paramref name="source"/> to <paramref name="destination"/>.</summary>
    public static byte[] IPv4(IPAddress source, IPAddress destination, ReadOnlySpan<byte> payload)
    {
        var packet = new byte[20 + payload.Length];
        packet[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(2), (ushort)packet.Length);
        packet[8] = 64;
        packet[9] = 17;
        source.GetAddressBytes().CopyTo(packet, 12);
        destination.GetAddressBytes().CopyTo(packet, 16);
        payload.CopyTo(packet.AsSpan(20));
        return packet;
    }
}
