using Google.Protobuf;
using P2PNet.IO;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Protocols.Dht.Internal;
using P2PNet.Protocols.Dht.Protos;

namespace P2PNet.Protocols.Dht;

/// <summary>Iterative lookups and the client side of the RPCs.</summary>
public sealed partial class KadDht
{
    /// <summary>A lookup's outcome. <paramref name="Hops"/>: referrals from our own table to the closest peer that
    /// answered (1 when our table already held it).</summary>
    private sealed record LookupResult(IReadOnlyList<PeerId> Closest, int Queried, int Hops);

    /// <summary>
    /// Queries the closest known peers to <paramref name="key"/>, α at a time, learning closer ones from their answers,
    /// until the k closest it knows have all answered (or failed), or <paramref name="stopWhen"/> says an answer is
    /// enough. Peers that fail leave the routing table; peers that answer join it.
    /// </summary>
    private Task<LookupResult> LookupAsync(byte[] key, PbKadMessage.Types.MessageType type, Func<PbKadMessage, bool>? stopWhen,
        CancellationToken cancellationToken) =>
        LookupAsync(key, type, stopWhen, onReply: null, cancellationToken);

    /// <summary>The lookup, with <paramref name="onReply"/> told of each answer and who gave it.</summary>
    private async Task<LookupResult> LookupAsync(byte[] key, PbKadMessage.Types.MessageType type, Func<PbKadMessage, bool>? stopWhen,
        Action<PeerId, PbKadMessage>? onReply, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        var target = KadKey.Of(key);
        _table.MarkRefreshed(target, _time.GetTimestamp());
        var request = new PbKadMessage { Type = type, Key = ByteString.CopyFrom(key) };
        long started = _time.GetTimestamp();
        var candidates = new List<(PeerId Peer, KadKey Point, int Hop)>();
        var hops = new Dictionary<PeerId, int>();
        var seen = new HashSet<PeerId> { _host.PeerId };
        var queried = new HashSet<PeerId>();
        var answered = new HashSet<PeerId>();
        void Consider(PeerId peer, int hop)
        {
            if (seen.Add(peer))
            {
                candidates.Add((peer, KadKey.Of(peer.Bytes), hop));
                hops[peer] = hop;
            }
        }
        foreach (var peer in _table.Closest(target, _options.BucketSize))
        {
            Consider(peer, 1);
        }
        bool stop = false;
        while (!stop)
        {
            candidates.Sort((a, b) => target.CompareDistance(a.Point, b.Point));
            var closest = candidates.Take(_options.BucketSize).ToArray();
            var next = closest.Where(c => !queried.Contains(c.Peer)).Take(_options.Alpha).Select(c => c.Peer).ToArray();
            if (next.Length == 0)
            {
                break; // the k closest have all been asked
            }
            foreach (var peer in next)
            {
                queried.Add(peer);
            }
            var replies = await Task.WhenAll(next.Select(async peer =>
            {
                try
                {
                    return (Peer: peer, Reply: await SendAsync(peer, request, expectReply: true, linked.Token).ConfigureAwait(false));
                }
                catch (Exception e) when (IsPeerFailure(e, linked.Token))
                {
                    DhtLog.QueryFailed(_logger, peer, e.Message);
                    _table.Remove(peer);
                    return (Peer: peer, Reply: (PbKadMessage?)null);
                }
            })).ConfigureAwait(false);
            foreach (var (peer, reply) in replies)
            {
                if (reply is null)
                {
                    candidates.RemoveAll(c => c.Peer == peer);
                    continue;
                }
                answered.Add(peer);
                _table.TryAdd(peer);
                foreach (var closer in ReadPeers(reply.CloserPeers))
                {
                    Consider(closer.Peer, hops[peer] + 1);
                }
                onReply?.Invoke(peer, reply);
                if (stopWhen?.Invoke(reply) == true)
                {
                    stop = true;
                }
            }
        }
        candidates.Sort((a, b) => target.CompareDistance(a.Point, b.Point));
        var closestAnswered = candidates.Where(c => answered.Contains(c.Peer)).Take(_options.BucketSize).ToArray();
        int hopCount = closestAnswered.Length == 0 ? 0 : closestAnswered[0].Hop;
        _metrics.LookupCompleted(type, _time.GetElapsedTime(started), hopCount, queried.Count);
        return new LookupResult([.. closestAnswered.Select(c => c.Peer)], queried.Count, hopCount);
    }

    /// <summary>One RPC: a new stream, the request, the reply (when one is expected), the stream closed.</summary>
    private async Task<PbKadMessage?> SendAsync(PeerId peer, PbKadMessage request, bool expectReply, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.RequestTimeout);
        var stream = await _host.OpenStreamAsync(peer, _options.ProtocolId, timeout.Token).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            await WriteAsync(stream, request, timeout.Token).ConfigureAwait(false);
            if (!expectReply)
            {
                await stream.CompleteWritesAsync(timeout.Token).ConfigureAwait(false);
                return null;
            }
            // Half-close only once the answer is in: js-libp2p's handler reads for a next request after answering, and
            // a half-close that reaches it first makes it reset the stream, at times before its answer has reached us.
            byte[] bytes = await LengthPrefixed.ReadAsync(stream.Input, _options.MaxMessageSize, timeout.Token).ConfigureAwait(false)
                ?? throw new IOException($"{peer} closed the DHT stream without answering.");
            try
            {
                await stream.CompleteWritesAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (IOException)
            {
                // A peer that resets its side once it has answered: the answer is what counts.
            }
            var reply = Parse(bytes);
            if (reply.Type != request.Type)
            {
                throw new WireFormatException($"{peer} answered {request.Type} with {reply.Type}.");
            }
            return reply;
        }
    }

    /// <summary>Peers of a message, with their addresses stored in the peer store; malformed entries skipped, at most
    /// k of them and 16 addresses each (a bogus answer cannot flood the table or the store).</summary>
    private List<DhtProvider> ReadPeers(IEnumerable<PbKadMessage.Types.Peer> peers)
    {
        var result = new List<DhtProvider>();
        foreach (var entry in peers.Take(_options.BucketSize))
        {
            PeerId peer;
            try
            {
                peer = PeerId.FromBytes(entry.Id.Span);
            }
            catch (Exception e) when (e is WireFormatException or FormatException or ArgumentException)
            {
                continue;
            }
            if (peer == _host.PeerId)
            {
                continue;
            }
            var addresses = new List<Multiaddr>();
            foreach (var bytes in entry.Addrs.Take(16))
            {
                try
                {
                    addresses.Add(Multiaddr.FromBytes(bytes.Span).WithoutPeerId());
                }
                catch (WireFormatException)
                {
                }
            }
            var dialable = addresses.Where(_host.CanDial).ToArray();
            if (dialable.Length > 0)
            {
                _host.PeerStore.AddAddresses(peer, dialable);
            }
            result.Add(new DhtProvider(peer, addresses));
        }
        return result;
    }

    /// <summary>A peer as the wire carries it, with the addresses the peer store knows.</summary>
    private PbKadMessage.Types.Peer ToWire(PeerId peer, IEnumerable<Multiaddr>? addresses = null)
    {
        var wire = new PbKadMessage.Types.Peer
        {
            Id = ByteString.CopyFrom(peer.Bytes),
            Connection = _host.GetConnections(peer).Count > 0 ? PbKadMessage.Types.ConnectionType.Connected : PbKadMessage.Types.ConnectionType.NotConnected,
        };
        foreach (var address in (addresses ?? _host.PeerStore.Get(peer)?.Addresses ?? []).Take(16))
        {
            wire.Addrs.Add(ByteString.CopyFrom(address.ToBytes()));
        }
        return wire;
    }
}
