using P2PNet.Peers;

namespace P2PNet.Protocols.PubSub.Internal;

/// <summary>
/// The v1.1 score of each peer (gossipsub-v1.1.md "Peer Scoring"): P1 time in mesh, P2 first deliveries, P3/P3b mesh
/// delivery deficit and failure penalty, P4 invalid messages, P5 application score, P6 IP colocation, P7 behaviour penalty.
/// Counters decay once per heartbeat. A disconnected peer's record is kept for <c>RetainScore</c>, so reconnecting
/// does not wash a bad score. Not thread-safe: the router holds its lock.
/// </summary>
internal sealed class PeerScore(PeerScoreParameters parameters)
{
    private readonly Dictionary<PeerId, PeerRecordState> _peers = [];
    private readonly Dictionary<string, HashSet<PeerId>> _byIp = new(StringComparer.Ordinal);

    public void AddPeer(PeerId peer, string? ip)
    {
        if (!_peers.TryGetValue(peer, out var state))
        {
            state = new PeerRecordState();
            _peers[peer] = state;
        }
        state.DisconnectedAt = -1;
        if (ip is not null && state.Ip is null)
        {
            state.Ip = ip;
            if (!_byIp.TryGetValue(ip, out var set))
            {
                _byIp[ip] = set = [];
            }
            set.Add(peer);
        }
    }

    public void RemovePeer(PeerId peer, long now)
    {
        if (_peers.TryGetValue(peer, out var state))
        {
            state.DisconnectedAt = now;
            foreach (var topic in state.Topics.Values)
            {
                topic.InMesh = false;
            }
        }
    }

    public void Graft(PeerId peer, string topic, long now)
    {
        var stats = Topic(peer, topic);
        if (stats is not null)
        {
            stats.InMesh = true;
            stats.GraftTime = now;
            stats.MeshActive = false;
        }
    }

    public void Prune(PeerId peer, string topic)
    {
        var stats = Topic(peer, topic);
        if (stats is null)
        {
            return;
        }
        var p = parameters.For(topic);
        if (stats.MeshActive && stats.MeshDeliveries < p.MeshMessageDeliveriesThreshold)
        {
            double deficit = p.MeshMessageDeliveriesThreshold - stats.MeshDeliveries;
            stats.MeshFailurePenalty += deficit * deficit;
        }
        stats.InMesh = false;
    }

    public void FirstDelivery(PeerId peer, string topic)
    {
        var stats = Topic(peer, topic);
        if (stats is null)
        {
            return;
        }
        var p = parameters.For(topic);
        stats.FirstDeliveries = Math.Min(stats.FirstDeliveries + 1, p.FirstMessageDeliveriesCap);
        if (stats.InMesh)
        {
            stats.MeshDeliveries = Math.Min(stats.MeshDeliveries + 1, p.MeshMessageDeliveriesCap);
        }
    }

    /// <summary>A duplicate from a mesh peer still shows it forwards (P3), when within the delivery window.</summary>
    public void DuplicateDelivery(PeerId peer, string topic, TimeSpan sinceFirst)
    {
        var stats = Topic(peer, topic);
        var p = parameters.For(topic);
        if (stats is { InMesh: true } && sinceFirst <= p.MeshMessageDeliveriesWindow)
        {
            stats.MeshDeliveries = Math.Min(stats.MeshDeliveries + 1, p.MeshMessageDeliveriesCap);
        }
    }

    public void InvalidDelivery(PeerId peer, string topic)
    {
        if (Topic(peer, topic) is { } stats)
        {
            stats.InvalidDeliveries += 1;
        }
    }

    public void AddPenalty(PeerId peer, double count)
    {
        if (_peers.TryGetValue(peer, out var state))
        {
            state.BehaviourPenalty += count;
        }
    }

    public double Score(PeerId peer, long now)
    {
        if (!_peers.TryGetValue(peer, out var state))
        {
            return 0;
        }
        double topicsScore = 0;
        foreach (var (topic, stats) in state.Topics)
        {
            var p = parameters.For(topic);
            double s = 0;
            if (stats.InMesh)
            {
                double quanta = (now - stats.GraftTime) / Math.Max(1, p.TimeInMeshQuantum.TotalMilliseconds);
                s += p.TimeInMeshWeight * Math.Min(quanta, p.TimeInMeshCap);
            }
            s += p.FirstMessageDeliveriesWeight * stats.FirstDeliveries;
            if (stats.MeshActive && stats.MeshDeliveries < p.MeshMessageDeliveriesThreshold)
            {
                double deficit = p.MeshMessageDeliveriesThreshold - stats.MeshDeliveries;
                s += p.MeshMessageDeliveriesWeight * deficit * deficit;
            }
            s += p.MeshFailurePenaltyWeight * stats.MeshFailurePenalty;
            s += p.InvalidMessageDeliveriesWeight * stats.InvalidDeliveries * stats.InvalidDeliveries;
            topicsScore += p.TopicWeight * s;
        }
        double score = Math.Min(topicsScore, parameters.TopicScoreCap);
        if (parameters.AppSpecificScore is { } app)
        {
            score += parameters.AppSpecificWeight * app(peer);
        }
        if (state.Ip is not null && _byIp.TryGetValue(state.Ip, out var colocated) && colocated.Count > parameters.IPColocationFactorThreshold)
        {
            double surplus = colocated.Count - parameters.IPColocationFactorThreshold;
            score += parameters.IPColocationFactorWeight * surplus * surplus;
        }
        if (state.BehaviourPenalty > parameters.BehaviourPenaltyThreshold)
        {
            double excess = state.BehaviourPenalty - parameters.BehaviourPenaltyThreshold;
            score += parameters.BehaviourPenaltyWeight * excess * excess;
        }
        return score;
    }

    /// <summary>Once per heartbeat: decays counters, activates P3 for peers long enough in a mesh, forgets departed peers.</summary>
    public void Decay(long now)
    {
        List<PeerId>? forget = null;
        foreach (var (peer, state) in _peers)
        {
            if (state.DisconnectedAt >= 0 && now - state.DisconnectedAt > parameters.RetainScore.TotalMilliseconds)
            {
                (forget ??= []).Add(peer);
                continue;
            }
            foreach (var (topic, stats) in state.Topics)
            {
                var p = parameters.For(topic);
                stats.FirstDeliveries = DecayOne(stats.FirstDeliveries, p.FirstMessageDeliveriesDecay);
                stats.MeshDeliveries = DecayOne(stats.MeshDeliveries, p.MeshMessageDeliveriesDecay);
                stats.MeshFailurePenalty = DecayOne(stats.MeshFailurePenalty, p.MeshFailurePenaltyDecay);
                stats.InvalidDeliveries = DecayOne(stats.InvalidDeliveries, p.InvalidMessageDeliveriesDecay);
                if (stats.InMesh && now - stats.GraftTime >= p.MeshMessageDeliveriesActivation.TotalMilliseconds)
                {
                    stats.MeshActive = true;
                }
            }
            state.BehaviourPenalty = DecayOne(state.BehaviourPenalty, parameters.BehaviourPenaltyDecay);
        }
        foreach (var peer in forget ?? [])
        {
            var state = _peers[peer];
            _peers.Remove(peer);
            if (state.Ip is not null && _byIp.TryGetValue(state.Ip, out var set) && set.Remove(peer) && set.Count == 0)
            {
                _byIp.Remove(state.Ip);
            }
        }
    }

    private double DecayOne(double value, double decay)
    {
        value *= decay;
        return value < parameters.DecayToZero ? 0 : value;
    }

    private TopicStats? Topic(PeerId peer, string topic)
    {
        if (!_peers.TryGetValue(peer, out var state))
        {
            return null;
        }
        if (!state.Topics.TryGetValue(topic, out var stats))
        {
            // Bounded: the router only scores topics it has joined or published to.
            state.Topics[topic] = stats = new TopicStats();
        }
        return stats;
    }

    private sealed class PeerRecordState
    {
        public Dictionary<string, TopicStats> Topics { get; } = new(StringComparer.Ordinal);

        public double BehaviourPenalty { get; set; }

        public string? Ip { get; set; }

        public long DisconnectedAt { get; set; } = -1;
    }

    private sealed class TopicStats
    {
        public bool InMesh { get; set; }

        public long GraftTime { get; set; }

        public bool MeshActive { get; set; }

        public double FirstDeliveries { get; set; }

        public double MeshDeliveries { get; set; }

        public double MeshFailurePenalty { get; set; }

        public double InvalidDeliveries { get; set; }
    }
}
