using P2PNet.Peers;
using P2PNet.Protocols.PubSub.Protos;

namespace P2PNet.Protocols.PubSub;

// The heartbeat (gossipsub-v1.0.md "Heartbeat", gossipsub-v1.1.md "Mesh Maintenance", "Opportunistic Grafting").
public sealed partial class GossipSubRouter
{
    private async Task HeartbeatLoopAsync(CancellationToken cancellationToken)
    {
        await Task.Yield();
        using var timer = new PeriodicTimer(_options.HeartbeatInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    Heartbeat();
                }
                catch (Exception e) when (e is InvalidOperationException or ArgumentException or KeyNotFoundException)
                {
                    GossipSubLog.HeartbeatFailed(_logger, e);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>One heartbeat: mesh maintenance, fanout upkeep, gossip emission, cache shift, score decay.</summary>
    internal void Heartbeat()
    {
        long now = Now;
        lock (_lock)
        {
            _heartbeats++;
            var graft = new Dictionary<PeerId, List<string>>();
            var prune = new Dictionary<PeerId, List<string>>();
            foreach (var (topic, mesh) in _mesh)
            {
                MaintainMeshLocked(topic, mesh, now, graft, prune);
            }
            MaintainFanoutLocked(now);
            var ihave = new Dictionary<PeerId, PbControlMessage>();
            foreach (var (topic, mesh) in _mesh)
            {
                EmitGossipLocked(topic, mesh, now, ihave);
            }
            foreach (var (topic, fanout) in _fanout)
            {
                EmitGossipLocked(topic, fanout, now, ihave);
            }
            foreach (var (id, topics) in graft)
            {
                Control(ihave, id).Graft.Add(topics.Select(t => new PbControlGraft { TopicID = t }));
            }
            foreach (var (id, topics) in prune)
            {
                if (_peers.TryGetValue(id, out var peer))
                {
                    Control(ihave, id).Prune.Add(topics.Select(t => MakePruneLocked(peer, t, now, px: true)));
                }
            }
            foreach (var (id, control) in ihave)
            {
                if (_peers.TryGetValue(id, out var peer))
                {
                    EnqueueLocked(peer, new PbRpc { Control = control });
                }
            }
            // Broken IWANT promises cost the promiser (v1.1 P7).
            List<string>? expired = null;
            foreach (var (key, promise) in _promises)
            {
                if (promise.Deadline <= now)
                {
                    (expired ??= []).Add(key);
                    _score?.AddPenalty(promise.Peer, 1);
                }
            }
            foreach (var key in expired ?? [])
            {
                _promises.Remove(key);
            }
            foreach (var peer in _peers.Values)
            {
                peer.IHavesThisHeartbeat = 0;
                peer.IdsAskedThisHeartbeat = 0;
                peer.IWantServedThisHeartbeat = 0;
            }
            foreach (var key in _backoff.Where(b => b.Value <= now).Select(b => b.Key).ToList())
            {
                _backoff.Remove(key);
            }
            _cache.Shift();
            _seen.Expire(now);
            if (_firstSeen.Count > 0)
            {
                long window = now - (long)_options.HeartbeatInterval.TotalMilliseconds * _options.HistoryLength;
                foreach (var key in _firstSeen.Where(f => f.Value < window).Select(f => f.Key).ToList())
                {
                    _firstSeen.Remove(key);
                }
            }
            _score?.Decay(now);
        }
    }

    private static PbControlMessage Control(Dictionary<PeerId, PbControlMessage> controls, PeerId id)
    {
        if (!controls.TryGetValue(id, out var control))
        {
            controls[id] = control = new PbControlMessage();
        }
        return control;
    }

    private void MaintainMeshLocked(string topic, HashSet<PeerId> mesh, long now, Dictionary<PeerId, List<string>> graft, Dictionary<PeerId, List<string>> prune)
    {
        void Graft(PeerId id)
        {
            mesh.Add(id);
            _score?.Graft(id, topic, now);
            (graft.TryGetValue(id, out var l) ? l : graft[id] = []).Add(topic);
        }
        void Prune(PeerId id)
        {
            mesh.Remove(id);
            _score?.Prune(id, topic);
            (prune.TryGetValue(id, out var l) ? l : prune[id] = []).Add(topic);
        }
        bool IsOutbound(PeerId id) => _peers.TryGetValue(id, out var p) && p.Outbound;

        // Drop peers with a negative score, or gone.
        foreach (var id in mesh.ToList())
        {
            if (!_peers.ContainsKey(id))
            {
                mesh.Remove(id);
            }
            else if (_score is not null && ScoreLocked(id, now) < 0)
            {
                Prune(id);
            }
        }
        if (mesh.Count < _options.DLow)
        {
            foreach (var id in Shuffle(CandidatesLocked(topic, now, _ => true)).Take(_options.D - mesh.Count))
            {
                Graft(id);
            }
        }
        if (mesh.Count > _options.DHigh)
        {
            // Keep the D_score best, then random peers up to D, while keeping D_out outbound ones.
            var byScore = Shuffle(mesh).OrderByDescending(id => ScoreLocked(id, now)).ToList();
            var keep = byScore.Take(_options.DScore).ToList();
            var rest = Shuffle(byScore.Skip(_options.DScore));
            int outbound = keep.Count(IsOutbound);
            foreach (var id in rest.Where(IsOutbound))
            {
                if (outbound >= _options.DOut || keep.Count >= _options.D)
                {
                    break;
                }
                keep.Add(id);
                outbound++;
            }
            foreach (var id in rest.Where(id => !keep.Contains(id)))
            {
                if (keep.Count >= _options.D)
                {
                    break;
                }
                keep.Add(id);
            }
            foreach (var id in mesh.Where(id => !keep.Contains(id)).ToList())
            {
                Prune(id);
            }
        }
        if (mesh.Count >= _options.DLow)
        {
            int outbound = mesh.Count(IsOutbound);
            if (outbound < _options.DOut)
            {
                foreach (var id in Shuffle(CandidatesLocked(topic, now, IsOutbound)).Take(_options.DOut - outbound))
                {
                    Graft(id);
                }
            }
        }
        if (_score is not null && _options.OpportunisticGraftTicks > 0 && _heartbeats % _options.OpportunisticGraftTicks == 0 && mesh.Count > 1)
        {
            var scores = mesh.Select(id => ScoreLocked(id, now)).Order().ToList();
            double median = scores[scores.Count / 2];
            if (median < _options.Thresholds.OpportunisticGraftThreshold)
            {
                foreach (var id in Shuffle(CandidatesLocked(topic, now, id => ScoreLocked(id, now) > median)).Take(_options.OpportunisticGraftPeers))
                {
                    Graft(id);
                }
            }
        }
    }

    private void MaintainFanoutLocked(long now)
    {
        foreach (var topic in _fanoutLastPublish.Where(f => now - f.Value > _options.FanoutTtl.TotalMilliseconds).Select(f => f.Key).ToList())
        {
            _fanoutLastPublish.Remove(topic);
            _fanout.Remove(topic);
        }
        foreach (var (topic, fanout) in _fanout)
        {
            fanout.RemoveWhere(id => !_peers.ContainsKey(id) || !_topicPeers.TryGetValue(topic, out var t) || !t.Contains(id)
                || ScoreLocked(id, now) < _options.Thresholds.PublishThreshold);
            if (fanout.Count < _options.D)
            {
                foreach (var id in Shuffle(CandidatesLocked(topic, now, id => !fanout.Contains(id))).Take(_options.D - fanout.Count))
                {
                    fanout.Add(id);
                }
            }
        }
    }

    private void EmitGossipLocked(string topic, HashSet<PeerId> exclude, long now, Dictionary<PeerId, PbControlMessage> controls)
    {
        var ids = _cache.GossipIds(topic);
        if (ids.Count == 0 || !_topicPeers.TryGetValue(topic, out var peers))
        {
            return;
        }
        if (ids.Count > _options.MaxIHaveLength)
        {
            ids = Shuffle(ids).Take(_options.MaxIHaveLength).ToList();
        }
        var eligible = peers.Where(id => !exclude.Contains(id) && _peers.TryGetValue(id, out var p) && !p.IsFloodsub && p.Protocol is not null
            && (_score is null || ScoreLocked(id, now) >= _options.Thresholds.GossipThreshold)).ToList();
        int count = Math.Max(_options.DLazy, (int)(_options.GossipFactor * eligible.Count));
        var ihave = new PbControlIHave { TopicID = topic };
        ihave.MessageIDs.Add(ids.Select(Google.Protobuf.ByteString.CopyFrom));
        foreach (var id in Shuffle(eligible).Take(count))
        {
            Control(controls, id).Ihave.Add(ihave);
        }
    }
}
