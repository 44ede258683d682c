using System.Buffers;
using System.IO.Pipelines;
using Google.Protobuf;
using P2PNet.Host;
using P2PNet.IO;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Protocols.PubSub.Internal;
using P2PNet.Protocols.PubSub.Protos;

namespace P2PNet.Protocols.PubSub;

// Peers and streams (pubsub/README.md "Stream management"): one long-lived stream per direction. We write on the
// stream we open; we read on the stream the peer opens.
public sealed partial class GossipSubRouter
{
    /// <summary>Attempts at opening our stream to a connected peer before it is treated as not speaking pubsub.</summary>
    private const int OpenStreamAttempts = 3;

    private void OnConnectedness(PeerConnectednessChanged e)
    {
        if (e.Connectedness == Connectedness.Connected)
        {
            AddPeer(e.Peer);
        }
        else
        {
            RemovePeer(e.Peer);
        }
    }

    /// <summary>Starts the writer loop for <paramref name="id"/> unless one runs; it opens our stream and says hello.</summary>
    private GossipPeer? AddPeer(PeerId id)
    {
        if (id == _host.PeerId)
        {
            return null;
        }
        var connections = _host.GetConnections(id);
        lock (_lock)
        {
            if (_state != 1)
            {
                return null;
            }
            if (_peers.TryGetValue(id, out var existing))
            {
                return existing;
            }
            var peer = new GossipPeer(id, connections.Any(c => c.Direction == ConnectionDirection.Outbound), _options.MaxQueuedRpcsPerPeer);
            _peers[id] = peer;
            string? ip = null;
            if (connections.Count > 0)
            {
                var address = connections[0].RemoteAddress;
                if (address.TryGetValue(MultiaddrProtocol.Ip4, out var v4))
                {
                    ip = v4;
                }
                else if (address.TryGetValue(MultiaddrProtocol.Ip6, out var v6))
                {
                    ip = v6;
                }
            }
            _score?.AddPeer(id, ip);
            // Hello: our subscriptions (pubsub/README.md "Subscriptions").
            if (_subscriptions.Count > 0)
            {
                var hello = new PbRpc();
                foreach (var topic in _subscriptions.Keys)
                {
                    hello.Subscriptions.Add(new PbRpc.Types.SubOpts { Subscribe = true, Topicid = topic });
                }
                peer.Queue.Writer.TryWrite(hello);
            }
            peer.Writer = WriteLoopAsync(peer, _stopping.Token);
            _tasks.Add(peer.Writer);
            return peer;
        }
    }

    private void RemovePeer(PeerId id)
    {
        lock (_lock)
        {
            if (!_peers.Remove(id, out var peer))
            {
                return;
            }
            peer.Queue.Writer.TryComplete();
            foreach (var topic in peer.Topics)
            {
                if (_topicPeers.TryGetValue(topic, out var set))
                {
                    set.Remove(id);
                }
            }
            foreach (var mesh in _mesh.Values)
            {
                mesh.Remove(id);
            }
            foreach (var fanout in _fanout.Values)
            {
                fanout.Remove(id);
            }
            _score?.RemovePeer(id, Now);
        }
        GossipSubLog.PeerLeft(_logger, id);
    }

    private async Task WriteLoopAsync(GossipPeer peer, CancellationToken cancellationToken)
    {
        await Task.Yield();
        P2PStream? stream = null;
        try
        {
            string[] protocols = _options.SupportFloodsub
                ? [MeshsubV11ProtocolId, MeshsubV10ProtocolId, FloodsubProtocolId]
                : [MeshsubV11ProtocolId, MeshsubV10ProtocolId];
            // A loaded peer may miss one negotiation; retry a few times while the connection lives, then give up.
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    stream = await _host.OpenStreamAsync(peer.Id, protocols, cancellationToken).ConfigureAwait(false);
                    break;
                }
                catch (Exception e) when (attempt < OpenStreamAttempts && e is (IOException and not ProtocolNotSupportedException) or TimeoutException or OperationCanceledException
                    && !cancellationToken.IsCancellationRequested && _host.GetConnections(peer.Id).Count > 0)
                {
                    GossipSubLog.StreamFailed(_logger, peer.Id, e);
                    await Task.Delay(TimeSpan.FromMilliseconds(500 * attempt), _time, cancellationToken).ConfigureAwait(false);
                }
            }
            lock (_lock)
            {
                peer.Protocol = stream.Protocol;
            }
            GossipSubLog.PeerJoined(_logger, peer.Id, stream.Protocol);
            var reader = peer.Queue.Reader;
            var output = stream.Output;
            while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                // Batch what is queued into one flush; each RPC is framed on its own.
                int batched = 0;
                while (batched < 64 && reader.TryRead(out var rpc))
                {
                    if (peer.IsFloodsub && rpc.Control is not null)
                    {
                        rpc = new PbRpc { Subscriptions = { rpc.Subscriptions }, Publish = { rpc.Publish } };
                    }
                    foreach (var part in SplitToLimit(rpc))
                    {
                        WriteFrame(output, part);
                    }
                    batched++;
                }
                await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException or ProtocolViolationException or WireFormatException or OperationCanceledException)
        {
            GossipSubLog.StreamFailed(_logger, peer.Id, e);
            // The peer does not speak pubsub or its connection ended: forget it (a new inbound stream brings it back).
            RemovePeer(peer.Id);
        }
        finally
        {
            if (stream is not null)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
            lock (_lock)
            {
                _tasks.Remove(peer.Writer!);
            }
        }
    }

    private static void WriteFrame(PipeWriter output, PbRpc rpc)
    {
        int size = rpc.CalculateSize();
        Varint.Write(output, (ulong)size);
        var span = output.GetSpan(size);
        rpc.WriteTo(span[..size]);
        output.Advance(size);
    }

    /// <summary>An RPC larger than the limit is split: messages and control go in separate RPCs; one message over the limit is dropped.</summary>
    private IEnumerable<PbRpc> SplitToLimit(PbRpc rpc)
    {
        if (rpc.CalculateSize() <= _options.MaxRpcSize)
        {
            yield return rpc;
            yield break;
        }
        var current = new PbRpc { Subscriptions = { rpc.Subscriptions } };
        foreach (var message in rpc.Publish)
        {
            if (message.CalculateSize() + 16 > _options.MaxRpcSize)
            {
                continue;
            }
            current.Publish.Add(message);
            if (current.CalculateSize() > _options.MaxRpcSize)
            {
                current.Publish.RemoveAt(current.Publish.Count - 1);
                yield return current;
                current = new PbRpc { Publish = { message } };
            }
        }
        if (current.Publish.Count > 0 || current.Subscriptions.Count > 0)
        {
            yield return current;
        }
        if (rpc.Control is not null && rpc.Control.CalculateSize() + 16 <= _options.MaxRpcSize)
        {
            yield return new PbRpc { Control = rpc.Control };
        }
    }

    /// <summary>The read side: RPCs on the stream the peer opened, each at most <see cref="GossipSubOptions.MaxRpcSize"/>.</summary>
    private async Task ServeAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        var peer = AddPeer(stream.RemotePeer);
        if (peer is null)
        {
            stream.Abort();
            return;
        }
        lock (_lock)
        {
            if (peer.Protocol is null && stream.Protocol == FloodsubProtocolId)
            {
                peer.Protocol = FloodsubProtocolId;
            }
        }
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        var input = stream.Input;
        try
        {
            while (true)
            {
                var result = await input.ReadAsync(linked.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                try
                {
                    // Bounded work per read: parse what is complete, handle it, advance.
                    while (LengthPrefixed.TryParse(ref buffer, _options.MaxRpcSize, out var frame))
                    {
                        PbRpc rpc;
                        try
                        {
                            rpc = PbRpc.Parser.ParseFrom(frame);
                        }
                        catch (InvalidProtocolBufferException e)
                        {
                            throw new WireFormatException($"{stream.RemotePeer} sent a malformed pubsub RPC: {e.Message}", e);
                        }
                        HandleRpc(peer, rpc);
                    }
                }
                finally
                {
                    input.AdvanceTo(buffer.Start, buffer.End);
                }
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (linked.IsCancellationRequested)
        {
        }
        catch (WireFormatException e)
        {
            // Oversized or malformed: the stream goes, the peer is penalised; the process and the connection stay.
            GossipSubLog.StreamFailed(_logger, stream.RemotePeer, e);
            lock (_lock)
            {
                _score?.AddPenalty(stream.RemotePeer, 1);
            }
            stream.Abort();
            return;
        }
        catch (IOException e)
        {
            GossipSubLog.StreamFailed(_logger, stream.RemotePeer, e);
            return;
        }
        await input.CompleteAsync().ConfigureAwait(false);
    }
}
