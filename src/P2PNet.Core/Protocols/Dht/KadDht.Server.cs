using P2PNet.Host;
using P2PNet.IO;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Protocols.Dht.Internal;
using P2PNet.Protocols.Dht.Protos;

namespace P2PNet.Protocols.Dht;

/// <summary>The server side: answers the RPCs of the spec on each inbound stream, as many as the peer sends on it.</summary>
public sealed partial class KadDht
{
    private const int MaxKeySize = 256;

    private async Task HandleAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        try
        {
            while (true)
            {
                byte[]? bytes;
                using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(linked.Token))
                {
                    timeout.CancelAfter(_options.RequestTimeout);
                    bytes = await LengthPrefixed.ReadAsync(stream.Input, _options.MaxMessageSize, timeout.Token).ConfigureAwait(false);
                }
                if (bytes is null)
                {
                    return;
                }
                var request = Parse(bytes);
                if (request.Key.Length > MaxKeySize)
                {
                    throw new WireFormatException($"A DHT key of {request.Key.Length} bytes (at most {MaxKeySize}).");
                }
                // A peer that queries us in server mode is a DHT peer too (client-mode peers do not list the protocol).
                if (_host.PeerStore.Get(stream.RemotePeer)?.Protocols.Contains(_options.ProtocolId) == true)
                {
                    _table.TryAdd(stream.RemotePeer);
                }
                var reply = Answer(request, stream.RemotePeer);
                if (reply is not null)
                {
                    await WriteAsync(stream, reply, linked.Token).ConfigureAwait(false);
                }
            }
        }
        catch (WireFormatException e)
        {
            DhtLog.Malformed(_logger, stream.RemotePeer, e.Message);
            stream.Abort();
        }
        catch (DhtRecordException e)
        {
            // go-libp2p-kad-dht resets the stream on a refused PUT_VALUE too: the sender sees a failed put.
            DhtLog.RecordRefused(_logger, stream.RemotePeer, e.Message);
            stream.Abort();
        }
    }

    /// <summary>The reply to one request; null for requests that have none (ADD_PROVIDER, unknown types).</summary>
    /// <exception cref="DhtRecordException">A PUT_VALUE record is refused.</exception>
    private PbKadMessage? Answer(PbKadMessage request, PeerId sender)
    {
        byte[] key = request.Key.ToByteArray();
        switch (request.Type)
        {
            case PbKadMessage.Types.MessageType.FindNode:
            {
                var reply = new PbKadMessage { Type = request.Type, Key = request.Key };
                PeerId? exact = null;
                try
                {
                    exact = PeerId.FromBytes(key);
                }
                catch (Exception e) when (e is WireFormatException or FormatException or ArgumentException)
                {
                }
                if (exact == _host.PeerId)
                {
                    reply.CloserPeers.Add(ToWire(exact, OurAddresses()));
                    return reply;
                }
                // A known target goes first, with the closest others (as go-libp2p-kad-dht's handleFindPeer; the
                // spec's "exactly one Peer" for an exact match would leave a peer looking up its own id — bootstrap,
                // refresh — knowing nobody new). A peer is never told about itself.
                bool known = exact is not null && exact != sender && _host.PeerStore.Get(exact)?.Addresses.Count > 0;
                if (known)
                {
                    reply.CloserPeers.Add(ToWire(exact!));
                }
                reply.CloserPeers.AddRange(Closer(key, sender).Where(p => !known || !p.Id.Span.SequenceEqual(exact!.Bytes))
                    .Take(_options.BucketSize - (known ? 1 : 0)));
                return reply;
            }
            case PbKadMessage.Types.MessageType.GetProviders:
            {
                var reply = new PbKadMessage { Type = request.Type, Key = request.Key };
                reply.ProviderPeers.AddRange(GetProviders(key).Take(_options.BucketSize).Select(p => ToWire(p.Peer, p.Addresses)));
                reply.CloserPeers.AddRange(Closer(key, sender));
                return reply;
            }
            case PbKadMessage.Types.MessageType.AddProvider:
            {
                // Only the sender itself can be recorded as a provider (spec), with the addresses it gives.
                foreach (var provider in ReadPeers(request.ProviderPeers).Where(p => p.Peer == sender).Take(1))
                {
                    var addresses = provider.Addresses.Count > 0 ? provider.Addresses : _host.PeerStore.Get(sender)?.Addresses ?? [];
                    if (!AddProvider(key, sender, addresses))
                    {
                        DhtLog.Malformed(_logger, sender, "provider store full: ADD_PROVIDER dropped");
                    }
                }
                return null;
            }
            case PbKadMessage.Types.MessageType.Ping:
                return new PbKadMessage { Type = request.Type };
            case PbKadMessage.Types.MessageType.PutValue:
                return AnswerPutValue(request);
            case PbKadMessage.Types.MessageType.GetValue:
                return AnswerGetValue(request, sender);
            default:
                return null;
        }
    }

    private IEnumerable<PbKadMessage.Types.Peer> Closer(byte[] key, PeerId sender) =>
        _table.Closest(KadKey.Of(key), _options.BucketSize + 1)
            .Where(p => p != sender && _host.PeerStore.Get(p)?.Addresses.Count > 0)
            .Take(_options.BucketSize)
            .Select(p => ToWire(p));

    private Multiaddr[] OurAddresses() =>
        [.. _host.ListenAddresses.Where(a => !a.Contains(MultiaddrProtocol.P2pCircuit)).Select(a => a.WithoutPeerId())];
}
