using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Host;
using P2PNet.Host.Internal;
using P2PNet.IO;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Protocols.Dht.Internal;
using P2PNet.Protocols.Dht.Protos;

namespace P2PNet.Protocols.Dht;

/// <summary>
/// A Kademlia DHT node (libp2p/specs kad-dht): a routing table of peers that serve the protocol, iterative lookups
/// with α queries in flight, peer routing (<c>FIND_NODE</c>) and provider records (<c>ADD_PROVIDER</c>,
/// <c>GET_PROVIDERS</c>). In server mode it answers others' queries (<see cref="Mode"/>); once started it is the host's
/// <see cref="P2PHost.PeerRouting"/>, so dialling a peer id without known addresses looks the peer up.
/// </summary>
/// <remarks>
/// Value records (<c>PUT_VALUE</c>/<c>GET_VALUE</c>) are checked by per-namespace validators; full buckets keep a
/// replacement cache and check their least recently seen peer; the table is refreshed and what we provide or put is
/// republished periodically; records and providers may be kept in SQLite. Thread-safe.
/// </remarks>
public sealed partial class KadDht : IPeerRouting, IAsyncDisposable
{
    private readonly P2PHost _host;
    private readonly KadDhtOptions _options;
    private readonly ILogger _logger;
    private readonly RoutingTable _table;
    private readonly IDhtStore _store;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, IDhtRecordValidator> _validators;
    private readonly DhtMetrics _metrics;
    private readonly TaskTracker _tasks = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<IDisposable> _subscriptions = [];
    private ServiceLifecycle _lifecycle;

    /// <summary>Creates the node; nothing runs until <see cref="Start"/>.</summary>
    public KadDht(P2PHost host, KadDhtOptions? options = null, ILogger<KadDht>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        _host = host;
        _options = options ?? new KadDhtOptions();
        if (_options.BucketSize < 1 || _options.Alpha < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "BucketSize and Alpha must be at least 1.");
        }
        _options.Validate();
        if (!Enum.IsDefined(_options.Mode))
        {
            throw new ArgumentOutOfRangeException(nameof(options), $"Mode {_options.Mode} is not a KadDhtMode.");
        }
        _mode = _options.Mode;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _time = _options.TimeProvider ?? host.TimeProvider;
        _metrics = new DhtMetrics(host.Metrics.Meter);
        _validators = new(_options.Validators, StringComparer.Ordinal);
        _table = new RoutingTable(host.PeerId, _options.BucketSize, _options.ReplacementCacheSize, OnBucketFull, _time.GetTimestamp());
        _store = _options.DatabasePath is { } path ? new SqliteDhtStore(path, _options) : new MemoryDhtStore(_options);
    }

    /// <summary>Peers in the routing table.</summary>
    public int RoutingTableSize => _table.Count;

    /// <summary>Serves the protocol (per <see cref="Mode"/>), fills the routing table with the peers identify shows serve
    /// it, opens the record store (<see cref="KadDhtOptions.DatabasePath"/>), starts the periodic refresh and
    /// republishing, and becomes the host's <see cref="P2PHost.PeerRouting"/> unless another one is set.</summary>
    /// <exception cref="Storage.StoreVersionException">The database file was written by a newer version of P2PNet.</exception>
    public void Start()
    {
        if (!_lifecycle.TryStart(this))
        {
            return;
        }
        _store.Open();
        StartUpkeep();
        lock (_modeLock)
        {
            _running = true;
        }
        _subscriptions.Add(_host.Events.Subscribe<LocalReachabilityChanged>(_ => UpdateServing()));
        UpdateServing();
        _subscriptions.Add(_host.Events.Subscribe<PeerIdentificationCompleted>(e =>
        {
            if (e.Record.Protocols.Contains(_options.ProtocolId))
            {
                _table.TryAdd(e.Peer);
            }
            else
            {
                // An identify push without the protocol: the peer became a client (libp2p/specs kad-dht, "Client and
                // server mode": only servers belong in routing tables).
                _table.Remove(e.Peer);
            }
        }));
        foreach (var peer in _host.ConnectedPeers)
        {
            if (_host.PeerStore.Get(peer)?.Protocols.Contains(_options.ProtocolId) == true)
            {
                _table.TryAdd(peer);
            }
        }
        _host.TryInstallPeerRouting(this);
    }

    /// <summary>Stops serving; lookups in progress are cancelled.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_lifecycle.TryDispose(out bool wasStarted))
        {
            return;
        }
        foreach (var subscription in _subscriptions)
        {
            subscription.Dispose();
        }
        lock (_modeLock)
        {
            _running = false;
            if (wasStarted && _serving)
            {
                _host.RemoveStreamHandler(_options.ProtocolId);
            }
            _serving = false;
        }
        if (wasStarted)
        {
            _host.UninstallPeerRouting(this);
        }
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _tasks.WhenAllAsync(_options.RequestTimeout).ConfigureAwait(false);
        _store.Dispose();
        _stopping.Dispose();
    }

    /// <summary>Looks up our own id: fills the routing table with the peers closest to us (run after connecting to
    /// bootstrap peers).</summary>
    public async Task BootstrapAsync(CancellationToken cancellationToken = default) =>
        await GetClosestPeersAsync(_host.PeerId.Bytes.ToArray(), cancellationToken).ConfigureAwait(false);

    /// <summary>The k peers closest to <paramref name="key"/> that answered an iterative lookup, closest first.</summary>
    public async Task<IReadOnlyList<PeerId>> GetClosestPeersAsync(byte[] key, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        P2PHost.MarkPeerRoutingFlow();
        var lookup = await LookupAsync(key, PbKadMessage.Types.MessageType.FindNode, stopWhen: null, cancellationToken).ConfigureAwait(false);
        return lookup.Closest;
    }

    /// <summary>The addresses of <paramref name="peer"/>: known ones, or found by a lookup of its id; empty when none.</summary>
    public async Task<IReadOnlyList<Multiaddr>> FindPeerAsync(PeerId peer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(peer);
        P2PHost.MarkPeerRoutingFlow();
        if (_host.PeerStore.Get(peer)?.Addresses is { Count: > 0 } known)
        {
            return known;
        }
        await LookupAsync(peer.Bytes.ToArray(), PbKadMessage.Types.MessageType.FindNode,
            stopWhen: _ => _host.PeerStore.Get(peer)?.Addresses.Count > 0, cancellationToken).ConfigureAwait(false);
        return _host.PeerStore.Get(peer)?.Addresses ?? [];
    }

    /// <summary>Announces that we provide <paramref name="key"/> (e.g. a CID's bytes) to the k peers closest to it
    /// (and records it locally); returns how many accepted the announcement.</summary>
    public async Task<int> ProvideAsync(byte[] key, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        P2PHost.MarkPeerRoutingFlow();
        var self = new PbKadMessage.Types.Peer { Id = ByteString.CopyFrom(_host.PeerId.Bytes) };
        var ours = OurAddresses();
        self.Addrs.AddRange(ours.Select(a => ByteString.CopyFrom(a.ToBytes())));
        AddProvider(key, _host.PeerId, ours);
        RememberRepublished(Convert.ToHexString(key), (key, null));
        var closest = await GetClosestPeersAsync(key, cancellationToken).ConfigureAwait(false);
        var request = new PbKadMessage { Type = PbKadMessage.Types.MessageType.AddProvider, Key = ByteString.CopyFrom(key) };
        request.ProviderPeers.Add(self);
        var sent = await Task.WhenAll(closest.Select(async peer =>
        {
            try
            {
                await SendAsync(peer, request, expectReply: false, cancellationToken).ConfigureAwait(false);
                return true;
            }
            catch (Exception e) when (IsPeerFailure(e, cancellationToken))
            {
                return false;
            }
        })).ConfigureAwait(false);
        return sent.Count(s => s);
    }

    /// <summary>Peers that provide <paramref name="key"/> with their addresses, up to <paramref name="max"/>: ours
    /// first, then from a lookup that stops once enough are found.</summary>
    public async Task<IReadOnlyList<DhtProvider>> FindProvidersAsync(byte[] key, int max = 20, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        P2PHost.MarkPeerRoutingFlow();
        var found = new Dictionary<PeerId, DhtProvider>();
        foreach (var provider in GetProviders(key))
        {
            found[provider.Peer] = provider;
        }
        if (found.Count < max)
        {
            var lookup = await LookupAsync(key, PbKadMessage.Types.MessageType.GetProviders,
                stopWhen: response =>
                {
                    lock (found)
                    {
                        foreach (var provider in ReadPeers(response.ProviderPeers))
                        {
                            found.TryAdd(provider.Peer, new DhtProvider(provider.Peer, provider.Addresses));
                        }
                        return found.Count >= max;
                    }
                }, cancellationToken).ConfigureAwait(false);
            _ = lookup;
        }
        lock (found)
        {
            return [.. found.Values.Take(max)];
        }
    }

    private static bool IsPeerFailure(Exception e, CancellationToken cancellationToken) =>
        e is IOException or TimeoutException or WireFormatException or ProtocolNotSupportedException or ProtocolViolationException
            or Muxing.MuxerClosedException or ConnectionGatedException or NotSupportedException or ObjectDisposedException
        || e is OperationCanceledException && !cancellationToken.IsCancellationRequested;

    private static PbKadMessage Parse(byte[] bytes)
    {
        try
        {
            return PbKadMessage.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new WireFormatException($"Malformed DHT message: {e.Message}", e);
        }
    }

    private static async Task WriteAsync(P2PStream stream, PbKadMessage message, CancellationToken cancellationToken) =>
        await LengthPrefixed.WriteAsync(stream.Output, message.ToByteArray(), cancellationToken).ConfigureAwait(false);
}
