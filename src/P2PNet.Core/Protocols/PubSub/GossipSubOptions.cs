namespace P2PNet.Protocols.PubSub;

/// <summary>
/// Settings of a <see cref="GossipSubRouter"/>. Defaults are the gossipsub v1.0/v1.1 spec's
/// (libp2p/specs pubsub/gossipsub/gossipsub-v1.0.md "Parameters", gossipsub-v1.1.md "Overview of New Parameters").
/// </summary>
public sealed class GossipSubOptions
{
    /// <summary>Desired outbound degree of each topic mesh (D). Default 6.</summary>
    public int D { get; set; } = 6;

    /// <summary>Lower bound of a mesh: fewer peers and the heartbeat grafts more (D_lo). Default 5.</summary>
    public int DLow { get; set; } = 5;

    /// <summary>Upper bound of a mesh: more peers and the heartbeat prunes down to <see cref="D"/> (D_hi). Default 12.</summary>
    public int DHigh { get; set; } = 12;

    /// <summary>Peers kept by score when a mesh is pruned (D_score). Default 4.</summary>
    public int DScore { get; set; } = 4;

    /// <summary>Outbound-connection peers each mesh keeps, against Sybil eclipse (D_out). Default 2.</summary>
    public int DOut { get; set; } = 2;

    /// <summary>Peers outside the mesh told of recent messages (IHAVE) per topic per heartbeat, at least (D_lazy). Default 6.</summary>
    public int DLazy { get; set; } = 6;

    /// <summary>Share of eligible non-mesh peers that receive gossip, when more than <see cref="DLazy"/>. Default 0.25.</summary>
    public double GossipFactor { get; set; } = 0.25;

    /// <summary>Time between heartbeats (mesh maintenance, gossip, cache shift). Default 1 s.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a fanout set is kept after the last publish to a topic we do not subscribe to. Default 60 s.</summary>
    public TimeSpan FanoutTtl { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Heartbeat windows a message stays in the cache (served to IWANT). Default 5.</summary>
    public int HistoryLength { get; set; } = 5;

    /// <summary>Most recent windows advertised in IHAVE. Default 3.</summary>
    public int HistoryGossip { get; set; } = 3;

    /// <summary>How long a message id is remembered, so a message is delivered and forwarded once. Default 2 min.</summary>
    public TimeSpan SeenTtl { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Most message ids remembered at once; beyond it the oldest are forgotten early. Default 100,000.</summary>
    public int MaxSeenMessages { get; set; } = 100_000;

    /// <summary>Backoff after a PRUNE before the peer may GRAFT again (v1.1). Default 1 min.</summary>
    public TimeSpan PruneBackoff { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Backoff after we unsubscribe from a topic. Default 10 s.</summary>
    public TimeSpan UnsubscribeBackoff { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Peers offered in a PRUNE's peer exchange (v1.1). Default 16.</summary>
    public int PrunePeers { get; set; } = 16;

    /// <summary>Whether to offer and accept peer exchange on PRUNE. Default <see langword="true"/>.</summary>
    public bool PeerExchange { get; set; } = true;

    /// <summary>Publish our own messages to every topic peer above the publish threshold, not just the mesh (v1.1). Default <see langword="true"/>.</summary>
    public bool FloodPublish { get; set; } = true;

    /// <summary>Heartbeats between opportunistic grafting rounds (v1.1). Default 60.</summary>
    public int OpportunisticGraftTicks { get; set; } = 60;

    /// <summary>Peers grafted in one opportunistic round. Default 2.</summary>
    public int OpportunisticGraftPeers { get; set; } = 2;

    /// <summary>Times one peer may ask for one message by IWANT before we stop serving it (v1.1). Default 3.</summary>
    public int GossipRetransmission { get; set; } = 3;

    /// <summary>IHAVE messages accepted from one peer per heartbeat (v1.1 MaxIHaveMessages). Default 10.</summary>
    public int MaxIHaveMessages { get; set; } = 10;

    /// <summary>Message ids asked for (IWANT) from one peer per heartbeat, and ids per IHAVE we send (v1.1 MaxIHaveLength). Default 5,000.</summary>
    public int MaxIHaveLength { get; set; } = 5000;

    /// <summary>Messages served by IWANT to one peer per heartbeat; beyond it an IWANT flood is ignored. Default 5,000.</summary>
    public int MaxIWantServedPerHeartbeat { get; set; } = 5000;

    /// <summary>How long a peer has to deliver a message it advertised and we asked for, before the broken promise is penalised. Default 3 s.</summary>
    public TimeSpan IWantFollowupTime { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Largest RPC accepted from or sent to a peer; a bigger one resets the stream. Default 1 MiB (go and js: 1 MiB).</summary>
    public int MaxRpcSize { get; set; } = 1024 * 1024;

    /// <summary>Largest message payload we publish. Default 1 MiB minus room for the envelope.</summary>
    public int MaxMessageSize { get; set; } = 1024 * 1024 - 1024;

    /// <summary>Topics one peer may announce; further subscriptions are ignored. Default 1,000.</summary>
    public int MaxTopicsPerPeer { get; set; } = 1000;

    /// <summary>RPCs queued for one peer; when a slow peer's queue is full, new RPCs to it are dropped (and counted). Default 1,024.</summary>
    public int MaxQueuedRpcsPerPeer { get; set; } = 1024;

    /// <summary>Messages buffered for one local subscription; a subscriber that does not read loses the oldest. Default 4,096.</summary>
    public int SubscriptionBufferSize { get; set; } = 4096;

    /// <summary>How messages are signed and which are accepted. Default <see cref="SignaturePolicy.StrictSign"/>.</summary>
    public SignaturePolicy SignaturePolicy { get; set; } = SignaturePolicy.StrictSign;

    /// <summary>Computes a message id; default <c>from</c> followed by <c>seqno</c> (pubsub/README.md "Message Identification").</summary>
    public Func<PubSubMessage, byte[]>? MessageIdFunction { get; set; }

    /// <summary>Also speak <c>/floodsub/1.0.0</c> with peers that know nothing else. Default <see langword="true"/>.</summary>
    public bool SupportFloodsub { get; set; } = true;

    /// <summary>Peer scoring (v1.1); <see langword="null"/> turns scoring off. Default: <see cref="PeerScoreParameters"/> defaults.</summary>
    public PeerScoreParameters? Score { get; set; } = new();

    /// <summary>Score thresholds (v1.1). Used when <see cref="Score"/> is set.</summary>
    public PeerScoreThresholds Thresholds { get; set; } = new();

    /// <exception cref="ArgumentException">A parameter is out of range or the D parameters contradict each other.</exception>
    internal void Validate()
    {
        if (DLow < 1 || DLow > D || D > DHigh || DScore > D || DOut >= DLow || DOut > D / 2)
        {
            throw new ArgumentException($"Gossipsub needs 1 <= D_lo <= D <= D_hi, D_score <= D and D_out < D_lo, D_out <= D/2 (D {D}, D_lo {DLow}, D_hi {DHigh}, D_score {DScore}, D_out {DOut}).");
        }
        if (HeartbeatInterval <= TimeSpan.Zero || HistoryGossip < 1 || HistoryGossip > HistoryLength)
        {
            throw new ArgumentException("Gossipsub needs a positive heartbeat and 1 <= HistoryGossip <= HistoryLength.");
        }
        if (MaxRpcSize < 1024 || MaxMessageSize < 1 || MaxQueuedRpcsPerPeer < 1 || SubscriptionBufferSize < 1)
        {
            throw new ArgumentException("Gossipsub needs MaxRpcSize >= 1024 and positive message, queue and buffer sizes.");
        }
    }
}

/// <summary>How messages are signed (pubsub/README.md "Signature Policy Options").</summary>
public enum SignaturePolicy
{
    /// <summary>Sign our messages with the host's key (<c>from</c>, <c>seqno</c>, <c>signature</c>, <c>key</c>) and drop any unsigned or badly signed message.</summary>
    StrictSign,

    /// <summary>Send neither author nor signature; drop any message that carries <c>from</c>, <c>seqno</c>, <c>signature</c> or <c>key</c>.</summary>
    StrictNoSign,
}
