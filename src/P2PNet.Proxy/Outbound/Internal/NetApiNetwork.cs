using System.Collections.Concurrent;
using System.Net;
using System.Threading.Channels;
using P2PNet.Peers;
using P2PNet.Vpn;

namespace P2PNet.Proxy.Outbound.Internal;

/// <summary>One network of the net-api: its coordinator (started once the requestor's address is known), the nodes
/// added, and the raw-packet websockets reading what the VPN delivers to the requestor.</summary>
internal sealed class NetApiNetwork(string id, IPNetwork network, IPAddress? gateway)
{
    public string Id { get; } = id;

    public IPNetwork Network { get; } = network;

    public IPAddress? Gateway { get; } = gateway;

    public UserSpacePacketDevice Device { get; } = new();

    public VpnCoordinator? Coordinator { get; set; }

    public ConcurrentDictionary<PeerId, NetApiNode> Nodes { get; } = new();

    /// <summary>The raw sockets' outgoing queues (packets the VPN delivered, one per binary message).</summary>
    public ConcurrentDictionary<Channel<byte[]>, byte> RawReaders { get; } = new();

    public Task Pump { get; set; } = Task.CompletedTask;

    public CancellationTokenSource Stopping { get; } = new();

    public NetApiNetworkInfo Info() => new(Id, Network.ToString(), Mask(Network.PrefixLength).ToString(), Gateway?.ToString());

    public static IPAddress Mask(int prefixLength)
    {
        uint mask = prefixLength == 0 ? 0 : uint.MaxValue << (32 - prefixLength);
        return new IPAddress([(byte)(mask >> 24), (byte)(mask >> 16), (byte)(mask >> 8), (byte)mask]);
    }

    /// <summary>Device → raw sockets: every packet the VPN delivers to the requestor goes to each open raw socket (a full
    /// queue drops it for that socket: a slow websocket client loses packets as a slow link would).</summary>
    public async Task PumpAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                byte[] packet = await Device.ReceiveAsync(cancellationToken).ConfigureAwait(false);
                foreach (var reader in RawReaders.Keys)
                {
                    reader.Writer.TryWrite(packet);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ChannelClosedException or ObjectDisposedException)
        {
        }
    }
}
