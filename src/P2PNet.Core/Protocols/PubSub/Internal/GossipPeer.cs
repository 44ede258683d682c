using System.Threading.Channels;
using P2PNet.Peers;
using P2PNet.Protocols.PubSub.Protos;

namespace P2PNet.Protocols.PubSub.Internal;

/// <summary>
/// One pubsub peer: its topics, its bounded outbound queue (drained by the router's writer loop for it) and the
/// per-heartbeat counters that bound what it can make us do.
/// </summary>
internal sealed class GossipPeer(PeerId id, bool outbound, int queueCapacity)
{
    public PeerId Id { get; } = id;

    /// <summary>Whether we dialled the connection (counts toward D_out).</summary>
    public bool Outbound { get; } = outbound;

    /// <summary>The protocol our outbound stream negotiated; <see langword="null"/> until then.</summary>
    public string? Protocol { get; set; }

    public bool IsFloodsub => Protocol == GossipSubRouter.FloodsubProtocolId;

    public HashSet<string> Topics { get; } = new(StringComparer.Ordinal);

    /// <summary>RPCs waiting to be written; full means the peer is slow, and new RPCs are dropped.</summary>
    public Channel<PbRpc> Queue { get; } = Channel.CreateBounded<PbRpc>(new BoundedChannelOptions(queueCapacity)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.DropWrite,
    });

    public int IHavesThisHeartbeat { get; set; }

    public int IdsAskedThisHeartbeat { get; set; }

    public int IWantServedThisHeartbeat { get; set; }

    public long DroppedRpcs { get; set; }

    public Task? Writer { get; set; }
}
