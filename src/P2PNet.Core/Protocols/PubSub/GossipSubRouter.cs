using System.Buffers.Binary;
using System.Security.Cryptography;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Host;
using P2PNet.Peers;
using P2PNet.Protocols.PubSub.Internal;
using P2PNet.Protocols.PubSub.Protos;

namespace P2PNet.Protocols.PubSub;

/// <summary>
/// A gossipsub v1.1 router (libp2p/specs pubsub/gossipsub/gossipsub-v1.1.md) over a <see cref="P2PHost"/>, speaking
/// <c>/meshsub/1.1.0</c>, <c>/meshsub/1.0.0</c> and <c>/floodsub/1.0.0</c>: topic meshes kept at D by a heartbeat,
/// GRAFT/PRUNE with peer exchange and backoff, IHAVE/IWANT gossip, fanout, a seen cache, strict signing, flood
/// publishing and peer scoring.
/// </summary>
/// <remarks>
/// Thread-safe. Router state is guarded by one lock; network I/O happens outside it, each peer's writes on its own
/// loop fed by a bounded queue. Start with <see cref="StartAsync"/>; <see cref="DisposeAsync"/> stops every loop.
/// </remarks>
public sealed partial class GossipSubRouter : IAsyncDisposable
{
    /// <summary>Gossipsub v1.1.</summary>
    public const string MeshsubV11ProtocolId = "/meshsub/1.1.0";

    /// <summary>Gossipsub v1.0.</summary>
    public const string MeshsubV10ProtocolId = "/meshsub/1.0.0";

    /// <summary>Floodsub.</summary>
    public const string FloodsubProtocolId = "/floodsub/1.0.0";

    private readonly P2PHost _host;
    private readonly GossipSubOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Dictionary<PeerId, GossipPeer> _peers = [];
    private readonly Dictionary<string, HashSet<PeerId>> _topicPeers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<PeerId>> _mesh = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<PeerId>> _fanout = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _fanoutLastPublish = new(StringComparer.Ordinal);
    private readonly Dictionary<(PeerId, string), long> _backoff = [];
    private readonly Dictionary<string, List<PubSubSubscription>> _subscriptions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TopicValidator> _validators = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (PeerId Peer, long Deadline)> _promises = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _firstSeen = new(StringComparer.Ordinal);
    private readonly SeenCache _seen;
    private readonly MessageCache _cache;
    private readonly PeerScore? _score;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _tasks = [];
    private IDisposable? _connectednessSubscription;
    private Task? _heartbeatLoop;
    private long _seqno;
    private long _heartbeats;
    private int _state; // 0 created, 1 started, 2 disposed

    /// <summary>Creates the router; nothing runs until <see cref="StartAsync"/>.</summary>
    /// <param name="host">The host whose connections carry pubsub; its identity key signs our messages.</param>
    /// <param name="options">Settings; spec defaults when <see langword="null"/>.</param>
    /// <param name="logger">Where logs go; none by default.</param>
    /// <param name="timeProvider">Clock for heartbeats, caches and scores; the host's by default.</param>
    /// <exception cref="ArgumentException">The options contradict each other.</exception>
    public GossipSubRouter(P2PHost host, GossipSubOptions? options = null, ILogger<GossipSubRouter>? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        _host = host;
        _options = options ?? new GossipSubOptions();
        _options.Validate();
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _time = timeProvider ?? host.TimeProvider;
        _seen = new SeenCache(_options.SeenTtl, _options.MaxSeenMessages);
        _cache = new MessageCache(_options.HistoryLength, _options.HistoryGossip);
        _score = _options.Score is { } parameters ? new PeerScore(parameters) : null;
        _seqno = BinaryPrimitives.ReadInt64BigEndian(RandomNumberGenerator.GetBytes(8)) & long.MaxValue;
    }

    /// <summary>Our peer id, the author of what we publish.</summary>
    public PeerId PeerId => _host.PeerId;

    /// <summary>Registers the pubsub protocols, greets peers already connected and starts the heartbeat.</summary>
    /// <exception cref="InvalidOperationException">Already started or disposed.</exception>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            throw new InvalidOperationException("The gossipsub router was already started or disposed.");
        }
        _host.SetStreamHandler(MeshsubV11ProtocolId, ServeAsync);
        _host.SetStreamHandler(MeshsubV10ProtocolId, ServeAsync);
        if (_options.SupportFloodsub)
        {
            _host.SetStreamHandler(FloodsubProtocolId, ServeAsync);
        }
        _connectednessSubscription = _host.Events.Subscribe<PeerConnectednessChanged>(OnConnectedness);
        foreach (var peer in _host.ConnectedPeers)
        {
            AddPeer(peer);
        }
        _heartbeatLoop = HeartbeatLoopAsync(_stopping.Token);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Joins <paramref name="topic"/>: announces the subscription, builds the mesh, and returns the stream of messages
    /// that arrive on it. Dispose the subscription to leave (the topic is left when its last subscription goes).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="topic"/> is empty.</exception>
    /// <exception cref="ObjectDisposedException">The router was disposed.</exception>
    public ValueTask<PubSubSubscription> SubscribeAsync(string topic, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        cancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(_state == 2, this);
        var subscription = new PubSubSubscription(this, topic, _options.SubscriptionBufferSize);
        lock (_lock)
        {
            if (!_subscriptions.TryGetValue(topic, out var list))
            {
                _subscriptions[topic] = list = [];
                JoinLocked(topic);
            }
            list.Add(subscription);
        }
        return ValueTask.FromResult(subscription);
    }

    /// <summary>Topics we subscribe to.</summary>
    public IReadOnlyList<string> Topics
    {
        get
        {
            lock (_lock)
            {
                return [.. _subscriptions.Keys];
            }
        }
    }

    /// <summary>Sets the validator of <paramref name="topic"/> (replacing any); messages it rejects are dropped and their sender penalised.</summary>
    public void SetValidator(string topic, TopicValidator validator)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        ArgumentNullException.ThrowIfNull(validator);
        lock (_lock)
        {
            _validators[topic] = validator;
        }
    }

    /// <summary>Removes the validator of <paramref name="topic"/>.</summary>
    public bool RemoveValidator(string topic)
    {
        lock (_lock)
        {
            return _validators.Remove(topic);
        }
    }

    /// <summary>Publishes <paramref name="data"/> on <paramref name="topic"/>, signed by the host's key under StrictSign.</summary>
    /// <returns>The message id.</returns>
    /// <exception cref="ArgumentException">The payload exceeds <see cref="GossipSubOptions.MaxMessageSize"/>.</exception>
    /// <exception cref="ObjectDisposedException">The router was disposed.</exception>
    public ValueTask<ReadOnlyMemory<byte>> PublishAsync(string topic, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        cancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(_state == 2, this);
        if (data.Length > _options.MaxMessageSize)
        {
            throw new ArgumentException($"The message is {data.Length} bytes; the limit is {_options.MaxMessageSize}.", nameof(data));
        }
        var message = new PbMessage { Data = ByteString.CopyFrom(data.Span), Topic = topic };
        if (_options.SignaturePolicy == SignaturePolicy.StrictSign)
        {
            byte[] seqno = new byte[8];
            BinaryPrimitives.WriteInt64BigEndian(seqno, Interlocked.Increment(ref _seqno));
            message.From = ByteString.CopyFrom(_host.PeerId.Bytes);
            message.Seqno = ByteString.CopyFrom(seqno);
            MessageSigning.Sign(message, _host.Identity, _host.PeerId);
        }
        var delivered = ToPublic(message, _host.PeerId, _options.SignaturePolicy == SignaturePolicy.StrictSign ? _host.PeerId : null);
        byte[] id = MessageId(delivered);
        string key = Convert.ToBase64String(id);
        long now = Now;
        lock (_lock)
        {
            _seen.Add(key, now);
            _cache.Put(key, id, message);
            var rpc = new PbRpc { Publish = { message } };
            foreach (var peer in PublishTargetsLocked(topic, now))
            {
                EnqueueLocked(peer, rpc);
            }
        }
        return ValueTask.FromResult<ReadOnlyMemory<byte>>(id);
    }

    /// <summary>Publishes a typed protobuf message in the messenger's envelope (<c>{ type: full name, payload }</c>); read it with <see cref="PubSubMessage.GetPayload{TMessage}"/>.</summary>
    /// <returns>The message id.</returns>
    public ValueTask<ReadOnlyMemory<byte>> PublishAsync<TMessage>(string topic, TMessage message, CancellationToken cancellationToken = default)
        where TMessage : IMessage<TMessage>
    {
        ArgumentNullException.ThrowIfNull(message);
        byte[] envelope = new Messaging.Protos.PbEnvelope { Type = message.Descriptor.FullName, Payload = message.ToByteString() }.ToByteArray();
        return PublishAsync(topic, envelope, cancellationToken);
    }

    /// <summary>Peers in our mesh for <paramref name="topic"/>.</summary>
    public IReadOnlyList<PeerId> GetMeshPeers(string topic)
    {
        lock (_lock)
        {
            return _mesh.TryGetValue(topic, out var mesh) ? [.. mesh] : [];
        }
    }

    /// <summary>Pubsub peers that announced <paramref name="topic"/>.</summary>
    public IReadOnlyList<PeerId> GetTopicPeers(string topic)
    {
        lock (_lock)
        {
            return _topicPeers.TryGetValue(topic, out var peers) ? [.. peers] : [];
        }
    }

    /// <summary>Peers we exchange pubsub RPCs with.</summary>
    public IReadOnlyList<PeerId> Peers
    {
        get
        {
            lock (_lock)
            {
                return [.. _peers.Keys];
            }
        }
    }

    /// <summary>The current v1.1 score of <paramref name="peer"/> (0 when scoring is off or the peer is unknown).</summary>
    public double GetScore(PeerId peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        lock (_lock)
        {
            return ScoreLocked(peer, Now);
        }
    }

    /// <summary>Stops the heartbeat and every peer loop and forgets subscriptions; pubsub stream handlers are removed.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _state, 2) == 2)
        {
            return;
        }
        _connectednessSubscription?.Dispose();
        _host.RemoveStreamHandler(MeshsubV11ProtocolId);
        _host.RemoveStreamHandler(MeshsubV10ProtocolId);
        _host.RemoveStreamHandler(FloodsubProtocolId);
        await _stopping.CancelAsync().ConfigureAwait(false);
        Task[] tasks;
        lock (_lock)
        {
            foreach (var peer in _peers.Values)
            {
                peer.Queue.Writer.TryComplete();
            }
            foreach (var list in _subscriptions.Values)
            {
                foreach (var subscription in list)
                {
                    subscription.Complete();
                }
            }
            tasks = [.. _tasks, .. _heartbeatLoop is null ? [] : new[] { _heartbeatLoop }];
        }
        await Task.WhenAll(tasks).ConfigureAwait(false);
        _stopping.Dispose();
    }

    internal void Unsubscribe(PubSubSubscription subscription)
    {
        lock (_lock)
        {
            if (_subscriptions.TryGetValue(subscription.Topic, out var list) && list.Remove(subscription) && list.Count == 0)
            {
                _subscriptions.Remove(subscription.Topic);
                if (_state != 2)
                {
                    LeaveLocked(subscription.Topic);
                }
            }
        }
    }

    private long Now => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private double ScoreLocked(PeerId peer, long now) => _score?.Score(peer, now) ?? 0;

    private byte[] MessageId(PubSubMessage message)
    {
        if (_options.MessageIdFunction is { } custom)
        {
            return custom(message);
        }
        // pubsub/README.md "Message Identification": the concatenation of from and seqno.
        byte[] from = message.From?.ToBytes() ?? [];
        byte[] id = new byte[from.Length + message.SequenceNumber.Length];
        from.CopyTo(id, 0);
        message.SequenceNumber.Span.CopyTo(id.AsSpan(from.Length));
        if (id.Length == 0)
        {
            id = SHA256.HashData(message.Data.Span); // StrictNoSign: no author, so the content names the message
        }
        return id;
    }

    private static PubSubMessage ToPublic(PbMessage message, PeerId receivedFrom, PeerId? author) =>
        new(message.Topic, message.Data.Memory, author, message.HasSeqno ? message.Seqno.Memory : ReadOnlyMemory<byte>.Empty, receivedFrom);

    private IEnumerable<GossipPeer> PublishTargetsLocked(string topic, long now)
    {
        var targets = new HashSet<PeerId>();
        if (_topicPeers.TryGetValue(topic, out var topicPeers))
        {
            foreach (var id in topicPeers)
            {
                if (_peers.TryGetValue(id, out var peer) && peer.IsFloodsub)
                {
                    targets.Add(id);
                }
                else if (_options.FloodPublish && ScoreLocked(id, now) >= _options.Thresholds.PublishThreshold)
                {
                    targets.Add(id);
                }
            }
        }
        if (_mesh.TryGetValue(topic, out var mesh))
        {
            targets.UnionWith(mesh);
        }
        else
        {
            if (!_fanout.TryGetValue(topic, out var fanout))
            {
                _fanout[topic] = fanout = [];
                foreach (var id in Shuffle(CandidatesLocked(topic, now, _ => true)).Take(_options.D))
                {
                    fanout.Add(id);
                }
            }
            _fanoutLastPublish[topic] = now;
            targets.UnionWith(fanout);
        }
        foreach (var id in targets)
        {
            if (_peers.TryGetValue(id, out var peer))
            {
                yield return peer;
            }
        }
    }

    private void EnqueueLocked(GossipPeer peer, PbRpc rpc)
    {
        if (peer.IsFloodsub && rpc.Control is not null)
        {
            if (rpc.Publish.Count == 0 && rpc.Subscriptions.Count == 0)
            {
                return;
            }
            rpc = new PbRpc { Subscriptions = { rpc.Subscriptions }, Publish = { rpc.Publish } };
        }
        if (!peer.Queue.Writer.TryWrite(rpc))
        {
            peer.DroppedRpcs++;
            GossipSubLog.QueueFull(_logger, peer.Id);
        }
    }

    private static List<T> Shuffle<T>(IEnumerable<T> items)
    {
        var list = items.ToList();
        for (int i = list.Count - 1; i > 0; i--)
        {
            int j = Random.Shared.Next(i + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }
        return list;
    }
}
