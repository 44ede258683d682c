using Google.Protobuf;
using P2PNet.Peers;
using P2PNet.Protocols.PubSub.Internal;
using P2PNet.Protocols.PubSub.Protos;

namespace P2PNet.Protocols.PubSub;

// Handling of inbound RPCs (gossipsub-v1.0.md "Control messages", gossipsub-v1.1.md "Spam protection measures").
public sealed partial class GossipSubRouter
{
    private void HandleRpc(GossipPeer peer, PbRpc rpc)
    {
        long now = Now;
        lock (_lock)
        {
            double score = ScoreLocked(peer.Id, now);
            if (score < _options.Thresholds.GraylistThreshold && _score is not null)
            {
                GossipSubLog.Graylisted(_logger, peer.Id, score);
                return;
            }
            foreach (var sub in rpc.Subscriptions)
            {
                if (!sub.HasTopicid || sub.Topicid.Length == 0)
                {
                    continue;
                }
                if (sub.Subscribe)
                {
                    if (peer.Topics.Count >= _options.MaxTopicsPerPeer && !peer.Topics.Contains(sub.Topicid))
                    {
                        continue; // bounded: a peer cannot make us track unlimited topics
                    }
                    peer.Topics.Add(sub.Topicid);
                    if (!_topicPeers.TryGetValue(sub.Topicid, out var set))
                    {
                        _topicPeers[sub.Topicid] = set = [];
                    }
                    set.Add(peer.Id);
                }
                else if (peer.Topics.Remove(sub.Topicid))
                {
                    if (_topicPeers.TryGetValue(sub.Topicid, out var set) && set.Remove(peer.Id) && set.Count == 0)
                    {
                        _topicPeers.Remove(sub.Topicid);
                    }
                    if (_mesh.TryGetValue(sub.Topicid, out var mesh) && mesh.Remove(peer.Id))
                    {
                        _score?.Prune(peer.Id, sub.Topicid);
                    }
                    if (_fanout.TryGetValue(sub.Topicid, out var fanout))
                    {
                        fanout.Remove(peer.Id);
                    }
                }
            }
        }
        foreach (var message in rpc.Publish)
        {
            HandleMessage(peer, message, now);
        }
        if (rpc.Control is { } control && !peer.IsFloodsub)
        {
            lock (_lock)
            {
                HandleControlLocked(peer, control, now);
            }
        }
    }

    private void HandleMessage(GossipPeer peer, PbMessage message, long now)
    {
        string topic = message.Topic;
        if (!message.HasTopic || topic.Length == 0)
        {
            return;
        }
        bool subscribed;
        lock (_lock)
        {
            subscribed = _subscriptions.ContainsKey(topic);
        }
        if (!subscribed)
        {
            return; // unknown topic: not ours to validate or forward (and not scored, so it cannot grow state)
        }
        // Signature policy first: an unsigned or badly signed message is invalid whoever forwards it.
        PeerId? author = null;
        string? reason = null;
        if (_options.SignaturePolicy == SignaturePolicy.StrictSign)
        {
            if (!MessageSigning.Verify(message, out author))
            {
                reason = "missing or bad signature";
            }
        }
        else if (message.HasFrom || message.HasSeqno || message.HasSignature || message.HasKey)
        {
            reason = "StrictNoSign forbids author fields";
        }
        var delivered = ToPublic(message, peer.Id, author);
        byte[] id = MessageId(delivered);
        delivered.Id = id;
        string key = Convert.ToBase64String(id);
        TopicValidator? validator;
        lock (_lock)
        {
            if (_seen.Contains(key))
            {
                if (_firstSeen.TryGetValue(key, out long first))
                {
                    _score?.DuplicateDelivery(peer.Id, topic, TimeSpan.FromMilliseconds(now - first));
                }
                return;
            }
            if (reason is not null)
            {
                _score?.InvalidDelivery(peer.Id, topic);
                _seen.Add(key, now);
            }
            _validators.TryGetValue(topic, out validator);
        }
        if (reason is not null)
        {
            GossipSubLog.MessageRejected(_logger, topic, peer.Id, reason);
            return;
        }
        var verdict = validator?.Invoke(delivered) ?? ValidationResult.Accept;
        lock (_lock)
        {
            if (!_seen.Add(key, now))
            {
                return; // another peer's copy won the race while we validated
            }
            _promises.Remove(key);
            if (verdict != ValidationResult.Accept)
            {
                if (verdict == ValidationResult.Reject)
                {
                    _score?.InvalidDelivery(peer.Id, topic);
                }
                GossipSubLog.MessageRejected(_logger, topic, peer.Id, verdict.ToString());
                return;
            }
            _score?.FirstDelivery(peer.Id, topic);
            _firstSeen[key] = now;
            _cache.Put(key, id, message);
            // Forward to the mesh (and floodsub peers), never back to the sender or the author.
            var rpc = new PbRpc { Publish = { message } };
            var targets = new HashSet<PeerId>();
            if (_mesh.TryGetValue(topic, out var mesh))
            {
                targets.UnionWith(mesh);
            }
            if (_topicPeers.TryGetValue(topic, out var topicPeers))
            {
                foreach (var other in topicPeers)
                {
                    if (_peers.TryGetValue(other, out var p) && p.IsFloodsub)
                    {
                        targets.Add(other);
                    }
                }
            }
            targets.Remove(peer.Id);
            if (author is not null)
            {
                targets.Remove(author);
            }
            foreach (var target in targets)
            {
                if (_peers.TryGetValue(target, out var p))
                {
                    EnqueueLocked(p, rpc);
                }
            }
            if (_subscriptions.TryGetValue(topic, out var subscriptions))
            {
                foreach (var subscription in subscriptions)
                {
                    subscription.Deliver(delivered);
                }
            }
        }
    }

    private void HandleControlLocked(GossipPeer peer, PbControlMessage control, long now)
    {
        var reply = new PbControlMessage();
        double score = ScoreLocked(peer.Id, now);
        bool gossipOk = _score is null || score >= _options.Thresholds.GossipThreshold;

        // IHAVE (v1.1: at most MaxIHaveMessages per heartbeat, MaxIHaveLength ids asked, nothing from low scorers).
        var want = new List<ByteString>();
        foreach (var ihave in control.Ihave)
        {
            if (!gossipOk || ++peer.IHavesThisHeartbeat > _options.MaxIHaveMessages || !_mesh.ContainsKey(ihave.TopicID))
            {
                continue;
            }
            foreach (var id in ihave.MessageIDs)
            {
                if (peer.IdsAskedThisHeartbeat >= _options.MaxIHaveLength)
                {
                    break;
                }
                string key = Convert.ToBase64String(id.Span);
                if (!_seen.Contains(key) && !_promises.ContainsKey(key))
                {
                    peer.IdsAskedThisHeartbeat++;
                    want.Add(id);
                    _promises[key] = (peer.Id, now + (long)_options.IWantFollowupTime.TotalMilliseconds);
                }
            }
        }
        if (want.Count > 0)
        {
            reply.Iwant.Add(new PbControlIWant { MessageIDs = { want } });
        }

        // IWANT: serve from the cache, each message at most GossipRetransmission times per peer, bounded per heartbeat.
        var serve = new PbRpc();
        if (gossipOk)
        {
            foreach (var iwant in control.Iwant)
            {
                foreach (var id in iwant.MessageIDs)
                {
                    if (peer.IWantServedThisHeartbeat >= _options.MaxIWantServedPerHeartbeat)
                    {
                        break;
                    }
                    if (_cache.GetForPeer(Convert.ToBase64String(id.Span), peer.Id, _options.GossipRetransmission) is { } message)
                    {
                        peer.IWantServedThisHeartbeat++;
                        serve.Publish.Add(message);
                    }
                }
            }
        }

        // GRAFT: accept into the mesh unless we are not in the topic, the peer is backing off or scores badly, or the mesh is full.
        foreach (var graft in control.Graft)
        {
            string topic = graft.TopicID;
            if (!_mesh.TryGetValue(topic, out var mesh))
            {
                continue; // not subscribed: ignore (spec), no PRUNE to avoid amplification on unknown topics
            }
            if (mesh.Contains(peer.Id))
            {
                continue;
            }
            if (_backoff.TryGetValue((peer.Id, topic), out long until) && until > now)
            {
                _score?.AddPenalty(peer.Id, 1); // GRAFT during backoff (v1.1)
                reply.Prune.Add(MakePruneLocked(peer, topic, now, px: false));
                continue;
            }
            if ((_score is not null && score < 0) || (mesh.Count >= _options.DHigh && !peer.Outbound))
            {
                reply.Prune.Add(MakePruneLocked(peer, topic, now, px: _score is null || score >= 0));
                continue;
            }
            mesh.Add(peer.Id);
            _score?.Graft(peer.Id, topic, now);
        }

        // PRUNE: leave the mesh, back off, and maybe dial the peers offered.
        foreach (var prune in control.Prune)
        {
            string topic = prune.TopicID;
            if (_mesh.TryGetValue(topic, out var mesh) && mesh.Remove(peer.Id))
            {
                _score?.Prune(peer.Id, topic);
            }
            var backoff = prune.HasBackoff ? TimeSpan.FromSeconds(Math.Min(prune.Backoff, 3600)) : _options.PruneBackoff;
            _backoff[(peer.Id, topic)] = now + (long)backoff.TotalMilliseconds;
            if (_options.PeerExchange && prune.Peers.Count > 0 && (_score is null || score >= _options.Thresholds.AcceptPXThreshold))
            {
                foreach (var info in prune.Peers.Take(_options.PrunePeers))
                {
                    if (info.HasPeerID && TryPeerId(info.PeerID) is { } offered && !_peers.ContainsKey(offered) && offered != _host.PeerId)
                    {
                        _tasks.Add(DialOfferedAsync(offered, _stopping.Token));
                    }
                }
            }
        }

        if (reply.Ihave.Count + reply.Iwant.Count + reply.Graft.Count + reply.Prune.Count > 0)
        {
            serve.Control = reply;
        }
        if (serve.Publish.Count > 0 || serve.Control is not null)
        {
            EnqueueLocked(peer, serve);
        }
    }

    private static PeerId? TryPeerId(ByteString bytes)
    {
        try
        {
            return PeerId.FromBytes(bytes.Span);
        }
        catch (WireFormatException)
        {
            return null;
        }
    }

    /// <summary>Peer exchange: connects to an offered peer we already know addresses for (the host's peer store).</summary>
    private async Task DialOfferedAsync(PeerId peer, CancellationToken cancellationToken)
    {
        await Task.Yield();
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            await _host.DialAsync(peer, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            GossipSubLog.PeerExchangeDialFailed(_logger, peer, e);
        }
        finally
        {
            lock (_lock)
            {
                _tasks.RemoveAll(t => t.IsCompleted);
            }
        }
    }

    private PbControlPrune MakePruneLocked(GossipPeer peer, string topic, long now, bool px)
    {
        _backoff[(peer.Id, topic)] = now + (long)_options.PruneBackoff.TotalMilliseconds;
        var prune = new PbControlPrune { TopicID = topic };
        if (peer.Protocol == MeshsubV11ProtocolId)
        {
            prune.Backoff = (ulong)_options.PruneBackoff.TotalSeconds;
            if (px && _options.PeerExchange && _topicPeers.TryGetValue(topic, out var candidates))
            {
                foreach (var other in Shuffle(candidates.Where(c => c != peer.Id && ScoreLocked(c, now) >= 0)).Take(_options.PrunePeers))
                {
                    prune.Peers.Add(new PbPeerInfo { PeerID = ByteString.CopyFrom(other.Bytes) });
                }
            }
        }
        return prune;
    }

    /// <summary>Mesh candidates: gossipsub peers in the topic, not in the mesh, not backing off, with a non-negative score.</summary>
    private IEnumerable<PeerId> CandidatesLocked(string topic, long now, Func<PeerId, bool> filter)
    {
        if (!_topicPeers.TryGetValue(topic, out var peers))
        {
            yield break;
        }
        _mesh.TryGetValue(topic, out var mesh);
        foreach (var id in peers)
        {
            if (mesh?.Contains(id) == true || !_peers.TryGetValue(id, out var peer) || peer.IsFloodsub || peer.Protocol is null)
            {
                continue;
            }
            if (_backoff.TryGetValue((id, topic), out long until) && until > now)
            {
                continue;
            }
            if (ScoreLocked(id, now) < 0 || !filter(id))
            {
                continue;
            }
            yield return id;
        }
    }

    private void JoinLocked(string topic)
    {
        long now = Now;
        var mesh = new HashSet<PeerId>();
        // gossipsub-v1.0.md "Joining": take fanout peers first, then fill to D.
        if (_fanout.Remove(topic, out var fanout))
        {
            _fanoutLastPublish.Remove(topic);
            foreach (var id in fanout.Where(f => ScoreLocked(f, now) >= 0).Take(_options.D))
            {
                mesh.Add(id);
            }
        }
        _mesh[topic] = mesh;
        foreach (var id in Shuffle(CandidatesLocked(topic, now, _ => true)).Take(_options.D - mesh.Count))
        {
            mesh.Add(id);
        }
        var announce = new PbRpc { Subscriptions = { new PbRpc.Types.SubOpts { Subscribe = true, Topicid = topic } } };
        var graft = new PbRpc { Subscriptions = { announce.Subscriptions }, Control = new PbControlMessage { Graft = { new PbControlGraft { TopicID = topic } } } };
        foreach (var peer in _peers.Values)
        {
            bool grafted = mesh.Contains(peer.Id);
            if (grafted)
            {
                _score?.Graft(peer.Id, topic, now);
            }
            EnqueueLocked(peer, grafted ? graft : announce);
        }
    }

    private void LeaveLocked(string topic)
    {
        long now = Now;
        _mesh.Remove(topic, out var mesh);
        var announce = new PbRpc { Subscriptions = { new PbRpc.Types.SubOpts { Subscribe = false, Topicid = topic } } };
        foreach (var peer in _peers.Values)
        {
            var rpc = announce;
            if (mesh?.Contains(peer.Id) == true)
            {
                _score?.Prune(peer.Id, topic);
                var prune = MakePruneLocked(peer, topic, now, px: true);
                if (peer.Protocol == MeshsubV11ProtocolId)
                {
                    prune.Backoff = (ulong)_options.UnsubscribeBackoff.TotalSeconds;
                }
                rpc = new PbRpc { Subscriptions = { announce.Subscriptions }, Control = new PbControlMessage { Prune = { prune } } };
            }
            EnqueueLocked(peer, rpc);
        }
    }
}
