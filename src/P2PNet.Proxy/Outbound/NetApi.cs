using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Host;
using P2PNet.Peers;
using P2PNet.Proxy.Outbound.Internal;
using P2PNet.Vpn;

namespace P2PNet.Proxy.Outbound;

/// <summary>
/// The requestor's side of the outbound-gateway design's net-api: networks created over REST, each a VPN this node
/// coordinates, its own address in it, nodes invited into it (the one given the network's gateway address becomes the
/// gateway), and raw IPv4 packets in and out through websockets (<see cref="NetApiServer"/>, <c>MapNetApi</c>).
/// </summary>
/// <remarks>Thread-safe: changes run one at a time. Nodes are dialed with the addresses the host's peer store holds
/// (<c>--peer ID=MULTIADDR</c> in the CLI, discovery, earlier connections). <see cref="DisposeAsync"/> stops every network.</remarks>
public sealed class NetApi : IAsyncDisposable
{
    private readonly P2PHost _host;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ConcurrentDictionary<string, NetApiNetwork> _networks = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _changes = new(1, 1);
    private bool _disposed;

    /// <summary>Creates the net-api on a started host (whose identity key signs the networks' routing tables).</summary>
    public NetApi(P2PHost host, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        _host = host;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
    }

    /// <summary>How long an invited node may take to join before <see cref="AddNodeAsync"/> fails (502). Default 60 s.</summary>
    public TimeSpan InviteTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The networks.</summary>
    public IReadOnlyList<NetApiNetworkInfo> GetNetworks() => [.. _networks.Values.Select(n => n.Info())];

    /// <summary>One network.</summary>
    /// <exception cref="NetApiException">404: unknown.</exception>
    public NetApiNetworkInfo GetNetwork(string id) => Find(id).Info();

    /// <summary>Creates a network (<c>POST /net-api/v2/net</c>); this node will coordinate it.</summary>
    /// <exception cref="NetApiException">400: a malformed address or mask, a gateway outside the network.</exception>
    public NetApiNetworkInfo CreateNetwork(NetApiNewNetwork request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var network = ParseNetwork(request.Ip, request.Mask);
        IPAddress? gateway = null;
        if (request.Gateway is { Length: > 0 } text)
        {
            gateway = ParseAddress(text, "gateway");
            if (!network.Contains(gateway) || gateway.Equals(network.BaseAddress) || IsBroadcast(network, gateway))
            {
                throw new NetApiException(400, $"gateway {gateway} is not a host address of {network}.");
            }
        }
        string id = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
        var net = new NetApiNetwork(id, network, gateway);
        _networks[id] = net;
        return net.Info();
    }

    /// <summary>Sets this node's own address in the network (<c>POST …/addresses</c>) and starts coordinating it.</summary>
    /// <exception cref="NetApiException">400: malformed or outside the network, or the gateway's; 404: unknown network;
    /// 409: the network already runs with another address.</exception>
    public async Task SetAddressAsync(string id, NetApiAddress request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var net = Find(id);
        var address = ParseAddress(request.Ip, "ip");
        CheckHostAddress(net, address, "ip");
        if (address.Equals(net.Gateway))
        {
            throw new NetApiException(400, $"{address} is the network's gateway address: the requestor needs another.");
        }
        await ChangeAsync(async () =>
        {
            if (net.Coordinator is { } running)
            {
                if (!address.Equals(running.Address))
                {
                    throw new NetApiException(409, $"The network runs with address {running.Address} already.");
                }
                return;
            }
            await StartAsync(net, address, cancellationToken).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>This node's addresses in the network (empty until set).</summary>
    public IReadOnlyList<NetApiAddress> GetAddresses(string id) =>
        Find(id).Coordinator?.Address is { } address ? [new NetApiAddress(address.ToString())] : [];

    /// <summary>Adds a node (<c>POST …/nodes</c>): admits it at its address, invites it over libp2p and waits for it to
    /// join. The node at the network's gateway address becomes the gateway.</summary>
    /// <exception cref="NetApiException">400: malformed id or address; 404: unknown network; 409: the address is taken;
    /// 502: the node could not be reached or declined.</exception>
    public async Task AddNodeAsync(string id, NetApiNode request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var net = Find(id);
        if (!PeerId.TryParse(request.Id, out var peer))
        {
            throw new NetApiException(400, $"id '{request.Id}' is not a peer id.");
        }
        if (peer == _host.PeerId)
        {
            throw new NetApiException(400, "id is this node: set its address with POST …/addresses.");
        }
        var address = ParseAddress(request.Ip, "ip");
        CheckHostAddress(net, address, "ip");
        await ChangeAsync(async () =>
        {
            var coordinator = net.Coordinator ?? await StartAsync(net, null, cancellationToken).ConfigureAwait(false);
            if (coordinator.RoutingTable?.Members.FirstOrDefault(m => m.Address.Equals(address)) is { } holder && holder.Peer != peer)
            {
                throw new NetApiException(409, $"{address} belongs to {holder.Peer} in this network.");
            }
            IPAddress given;
            try
            {
                given = await coordinator.AddPeerAsync(peer, address, cancellationToken).ConfigureAwait(false);
            }
            catch (InvalidOperationException e)
            {
                throw new NetApiException(409, e.Message, e); // the network is full
            }
            if (!given.Equals(address))
            {
                throw new NetApiException(409, $"{peer} is a member with address {given} already.");
            }
            try
            {
                using var invite = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                invite.CancelAfter(InviteTimeout);
                await VpnInvite.InviteAsync(coordinator, peer, address, request.ActivityId, invite.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not NetApiException && !cancellationToken.IsCancellationRequested
                && e is VpnJoinRejectedException or IOException or SocketException or TimeoutException or OperationCanceledException
                    or WireFormatException or Muxing.StreamResetException or InvalidOperationException)
            {
                await coordinator.RemovePeerAsync(peer, CancellationToken.None).ConfigureAwait(false);
                throw new NetApiException(502, $"{peer} did not join: {e.Message}", e);
            }
            net.Nodes[peer] = request with { Id = peer.ToString(), Ip = address.ToString() };
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The nodes added to the network.</summary>
    public IReadOnlyList<NetApiNode> GetNodes(string id) => [.. Find(id).Nodes.Values];

    /// <summary>Removes a node (<c>DELETE …/nodes/{nodeId}</c>): it leaves the routing table at once.</summary>
    /// <exception cref="NetApiException">404: unknown network or node.</exception>
    public Task RemoveNodeAsync(string id, string nodeId, CancellationToken cancellationToken = default)
    {
        var net = Find(id);
        if (!PeerId.TryParse(nodeId, out var peer) || !net.Nodes.ContainsKey(peer))
        {
            throw new NetApiException(404, $"No node '{nodeId}' in network {id}.");
        }
        return ChangeAsync(async () =>
        {
            await net.Coordinator!.RemovePeerAsync(peer, cancellationToken).ConfigureAwait(false);
            net.Nodes.TryRemove(peer, out _);
        }, cancellationToken);
    }

    /// <summary>Stops and forgets a network (<c>DELETE /net-api/v2/net/{id}</c>); its raw websockets are closed.</summary>
    /// <exception cref="NetApiException">404: unknown.</exception>
    public Task RemoveNetworkAsync(string id, CancellationToken cancellationToken = default)
    {
        var net = Find(id);
        return ChangeAsync(async () =>
        {
            if (_networks.TryRemove(id, out _))
            {
                await StopAsync(net).ConfigureAwait(false);
            }
        }, cancellationToken);
    }

    /// <summary>The network for a raw socket from <paramref name="source"/> (this node's address) to
    /// <paramref name="nextHop"/> (a member or the gateway).</summary>
    internal NetApiNetwork OpenRaw(string id, string source, string nextHop, out IPAddress sourceAddress)
    {
        var net = Find(id);
        sourceAddress = ParseAddress(source, "from");
        var hop = ParseAddress(nextHop, "to");
        if (net.Coordinator?.Address is not { } own || !own.Equals(sourceAddress))
        {
            throw new NetApiException(400, $"from {sourceAddress} is not this node's address in network {id} (set it with POST …/addresses).");
        }
        bool member = net.Coordinator.RoutingTable?.Members.Any(m => m.Address.Equals(hop)) == true;
        if (!member && !hop.Equals(net.Gateway))
        {
            throw new NetApiException(400, $"to {hop} is neither a member of network {id} nor its gateway.");
        }
        return net;
    }

    /// <summary>Stops every network.</summary>
    public async ValueTask DisposeAsync()
    {
        await _changes.WaitAsync().ConfigureAwait(false);
        try
        {
            _disposed = true;
            foreach (var net in _networks.Values)
            {
                await StopAsync(net).ConfigureAwait(false);
            }
            _networks.Clear();
        }
        finally
        {
            _changes.Release();
        }
    }

    private async Task<VpnCoordinator> StartAsync(NetApiNetwork net, IPAddress? address, CancellationToken cancellationToken)
    {
        var coordinator = new VpnCoordinator(_host, net.Device, new VpnOptions
        {
            VpnId = net.Id,
            Network = net.Network,
            Address = address,
            Gateway = net.Gateway,
        }, _loggerFactory);
        try
        {
            await coordinator.StartAsync([], cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await coordinator.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        net.Coordinator = coordinator;
        net.Pump = net.PumpAsync(net.Stopping.Token);
        return coordinator;
    }

    private static async Task StopAsync(NetApiNetwork net)
    {
        await net.Stopping.CancelAsync().ConfigureAwait(false);
        foreach (var reader in net.RawReaders.Keys)
        {
            reader.Writer.TryComplete();
        }
        if (net.Coordinator is { } coordinator)
        {
            await coordinator.DisposeAsync().ConfigureAwait(false);
        }
        await net.Device.DisposeAsync().ConfigureAwait(false);
        await net.Pump.ConfigureAwait(false);
    }

    private async Task ChangeAsync(Func<Task> change, CancellationToken cancellationToken)
    {
        await _changes.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            await change().ConfigureAwait(false);
        }
        finally
        {
            _changes.Release();
        }
    }

    private NetApiNetwork Find(string id) =>
        _networks.TryGetValue(id ?? "", out var net) ? net : throw new NetApiException(404, $"No network '{id}'.");

    private static IPNetwork ParseNetwork(string? ip, string? mask)
    {
        if (ip is null)
        {
            throw new NetApiException(400, "ip is required, e.g. \"192.168.8.0\".");
        }
        int prefix;
        string baseText = ip;
        if (ip.Contains('/', StringComparison.Ordinal))
        {
            string[] parts = ip.Split('/', 2);
            baseText = parts[0];
            if (!int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out prefix))
            {
                throw new NetApiException(400, $"ip '{ip}' has a malformed prefix.");
            }
        }
        else
        {
            var m = ParseAddress(mask ?? throw new NetApiException(400, "mask is required when ip has no prefix, e.g. \"255.255.255.0\"."), "mask");
            uint bits = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(m.GetAddressBytes());
            prefix = System.Numerics.BitOperations.PopCount(bits);
            if (prefix != 32 && bits != uint.MaxValue << (32 - prefix))
            {
                throw new NetApiException(400, $"mask {m} is not a contiguous network mask.");
            }
        }
        var address = ParseAddress(baseText, "ip");
        if (prefix is < 8 or > 30)
        {
            throw new NetApiException(400, $"The network needs a prefix length from 8 to 30, not {prefix}.");
        }
        if (mask is not null && ip.Contains('/', StringComparison.Ordinal) && !NetApiNetwork.Mask(prefix).ToString().Equals(mask, StringComparison.Ordinal))
        {
            throw new NetApiException(400, $"mask {mask} does not match the prefix of ip {ip}.");
        }
        uint value = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(address.GetAddressBytes());
        if ((value & ~(uint.MaxValue << (32 - prefix))) != 0)
        {
            throw new NetApiException(400, $"ip {address} has host bits set for a /{prefix} network: give the network's first address.");
        }
        return new IPNetwork(address, prefix);
    }

    private static IPAddress ParseAddress(string? text, string field) =>
        IPAddress.TryParse(text, out var address) && address.AddressFamily == AddressFamily.InterNetwork
            && text!.Count(c => c == '.') == 3
            ? address
            : throw new NetApiException(400, $"{field} '{text}' is not an IPv4 address.");

    private static void CheckHostAddress(NetApiNetwork net, IPAddress address, string field)
    {
        if (!net.Network.Contains(address) || address.Equals(net.Network.BaseAddress) || IsBroadcast(net.Network, address))
        {
            throw new NetApiException(400, $"{field} {address} is not a host address of {net.Network}.");
        }
    }

    private static bool IsBroadcast(IPNetwork network, IPAddress address)
    {
        uint value = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(address.GetAddressBytes());
        uint mask = uint.MaxValue << (32 - network.PrefixLength);
        return (value | mask) == uint.MaxValue;
    }
}
