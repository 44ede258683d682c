namespace P2PNet.Protocols.PubSub;

/// <summary>
/// Peer score parameters (gossipsub-v1.1.md "The Score Function"): the score is the capped sum over topics of
/// <c>TopicWeight × (w1·P1 + w2·P2 + w3·P3 + w3b·P3b + w4·P4)</c>, plus <c>w5·P5 + w6·P6 + w7·P7</c>.
/// Counters decay once per heartbeat by their decay factor.
/// </summary>
public sealed class PeerScoreParameters
{
    /// <summary>Parameters for topics without their own entry in <see cref="Topics"/>. Default: <see cref="TopicScoreParameters"/> defaults.</summary>
    public TopicScoreParameters DefaultTopic { get; set; } = new();

    /// <summary>Per-topic parameters.</summary>
    public IDictionary<string, TopicScoreParameters> Topics { get; } = new Dictionary<string, TopicScoreParameters>(StringComparer.Ordinal);

    /// <summary>Cap on the summed topic score (positive part). Default 100.</summary>
    public double TopicScoreCap { get; set; } = 100;

    /// <summary>P5: the application's opinion of a peer; <see langword="null"/> for none. Default none.</summary>
    public Func<Peers.PeerId, double>? AppSpecificScore { get; set; }

    /// <summary>Weight of P5. Default 1.</summary>
    public double AppSpecificWeight { get; set; } = 1;

    /// <summary>Weight of P6, IP colocation (must be ≤ 0). Default -10.</summary>
    public double IPColocationFactorWeight { get; set; } = -10;

    /// <summary>Peers allowed on one IP before P6 counts (the excess squared). Default 10 (local tests run many on 127.0.0.1).</summary>
    public int IPColocationFactorThreshold { get; set; } = 10;

    /// <summary>Weight of P7, behaviour penalty (GRAFT during backoff, broken IWANT promises; must be ≤ 0). Default -10.</summary>
    public double BehaviourPenaltyWeight { get; set; } = -10;

    /// <summary>Penalty below which P7 does not count. Default 6: a GRAFT crossing our PRUNE, or an IWANT answered late
    /// on a loaded peer, happens to honest peers, and one of them must not push a peer's score below zero (which prunes it).</summary>
    public double BehaviourPenaltyThreshold { get; set; } = 6;

    /// <summary>Per-heartbeat decay of P7. Default 0.99.</summary>
    public double BehaviourPenaltyDecay { get; set; } = 0.99;

    /// <summary>Counters below this decay to zero. Default 0.01.</summary>
    public double DecayToZero { get; set; } = 0.01;

    /// <summary>How long a disconnected peer's score is kept (so leaving does not wash a bad score). Default 2 min.</summary>
    public TimeSpan RetainScore { get; set; } = TimeSpan.FromMinutes(2);

    internal TopicScoreParameters For(string topic) => Topics.TryGetValue(topic, out var p) ? p : DefaultTopic;
}

/// <summary>Score parameters of one topic (gossipsub-v1.1.md "Topic Parameter Calculation and Decay").</summary>
public sealed class TopicScoreParameters
{
    /// <summary>Weight of the topic in the score. Default 1.</summary>
    public double TopicWeight { get; set; } = 1;

    /// <summary>Weight of P1, time in mesh. Default 0.01.</summary>
    public double TimeInMeshWeight { get; set; } = 0.01;

    /// <summary>Unit of P1. Default 1 s.</summary>
    public TimeSpan TimeInMeshQuantum { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Cap of P1 in quanta. Default 3,600.</summary>
    public double TimeInMeshCap { get; set; } = 3600;

    /// <summary>Weight of P2, first message deliveries. Default 1.</summary>
    public double FirstMessageDeliveriesWeight { get; set; } = 1;

    /// <summary>Per-heartbeat decay of P2. Default 0.9.</summary>
    public double FirstMessageDeliveriesDecay { get; set; } = 0.9;

    /// <summary>Cap of P2. Default 50.</summary>
    public double FirstMessageDeliveriesCap { get; set; } = 50;

    /// <summary>Weight of P3, mesh message delivery deficit (≤ 0). Default 0: off, as it needs a known message rate.</summary>
    public double MeshMessageDeliveriesWeight { get; set; }

    /// <summary>Per-heartbeat decay of P3's counter. Default 0.9.</summary>
    public double MeshMessageDeliveriesDecay { get; set; } = 0.9;

    /// <summary>Deliveries expected from a mesh peer; the deficit below it is squared. Default 1.</summary>
    public double MeshMessageDeliveriesThreshold { get; set; } = 1;

    /// <summary>Cap of P3's counter. Default 10.</summary>
    public double MeshMessageDeliveriesCap { get; set; } = 10;

    /// <summary>Time in mesh before P3 counts. Default 10 s.</summary>
    public TimeSpan MeshMessageDeliveriesActivation { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Window after first delivery in which a duplicate from a mesh peer still counts as delivered. Default 2 s.</summary>
    public TimeSpan MeshMessageDeliveriesWindow { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Weight of P3b, the deficit a peer had when pruned (≤ 0). Default 0.</summary>
    public double MeshFailurePenaltyWeight { get; set; }

    /// <summary>Per-heartbeat decay of P3b. Default 0.9.</summary>
    public double MeshFailurePenaltyDecay { get; set; } = 0.9;

    /// <summary>Weight of P4, invalid messages (squared; ≤ 0). Default -10.</summary>
    public double InvalidMessageDeliveriesWeight { get; set; } = -10;

    /// <summary>Per-heartbeat decay of P4. Default 0.99.</summary>
    public double InvalidMessageDeliveriesDecay { get; set; } = 0.99;
}

/// <summary>Score thresholds (gossipsub-v1.1.md "Score Thresholds").</summary>
public sealed class PeerScoreThresholds
{
    /// <summary>Below it no gossip is sent to or taken from a peer (≤ 0). Default -10.</summary>
    public double GossipThreshold { get; set; } = -10;

    /// <summary>Below it our own messages are not flood-published to a peer (≤ <see cref="GossipThreshold"/>). Default -50.</summary>
    public double PublishThreshold { get; set; } = -50;

    /// <summary>Below it every RPC from a peer is ignored (≤ <see cref="PublishThreshold"/>). Default -80.</summary>
    public double GraylistThreshold { get; set; } = -80;

    /// <summary>Peer exchange on PRUNE is acted on only from peers at or above it (≥ 0). Default 10.</summary>
    public double AcceptPXThreshold { get; set; } = 10;

    /// <summary>Median mesh score below which opportunistic grafting adds better peers (≥ 0). Default 1.</summary>
    public double OpportunisticGraftThreshold { get; set; } = 1;
}
