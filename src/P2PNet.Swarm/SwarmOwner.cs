using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.Host.Internal;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Security.Pnet;
using P2PNet.Swarm.Internal;

namespace P2PNet.Swarm;

/// <summary>
/// The node that configures a private swarm: it keeps the list of authorised peers, creates and rotates the swarm key,
/// hands the key to authorised peers over <see cref="SwarmProtocols.KeyExchange"/>, tells them about rotations over
/// <see cref="SwarmProtocols.Notify"/>, and serves as the swarm's bootstrap node. Everything is persisted in a
/// <see cref="SwarmStore"/>: <see cref="Open"/> after a restart resumes the same swarm.
/// </summary>
/// <remarks>
/// Thread-safe. The owner registers its stream handlers on the host when created and removes them when disposed; it
/// does not own the host or the store. Joining moves the whole host into the private swarm (see <see cref="JoinAsync"/>).
/// </remarks>
public sealed partial class SwarmOwner : IAsyncDisposable
{
    private readonly P2PHost _host;
    private readonly PrivateKey _identity;
    private readonly SwarmStore _store;
    private readonly SwarmOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly NonceCache _nonces;
    private readonly TaskTracker _background = new();
    private readonly CancellationTokenSource _disposing = new();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly IDisposable _connectedSubscription;
    private int _disposed;

    private SwarmOwner(P2PHost host, PrivateKey identity, SwarmStore store, string swarmId, SwarmOptions? options, ILoggerFactory? loggerFactory, TimeProvider? timeProvider)
    {
        _host = host;
        _identity = identity;
        _store = store;
        SwarmId = swarmId;
        _options = options ?? new SwarmOptions();
        _options.Validate();
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<SwarmOwner>();
        _time = timeProvider ?? TimeProvider.System;
        _nonces = new NonceCache(_options.MaxRememberedNonces, _options.MaxRememberedNoncesPerPeer);
        host.SetStreamHandler(SwarmProtocols.KeyExchange, HandleKeyExchangeAsync);
        _connectedSubscription = host.Events.Subscribe<PeerConnectednessChanged>(OnConnectednessChanged);
        ScheduleGraceExpiry();
    }

    /// <summary>Raised after every transition: joined, left, key rotated, grace period ended, peer authorised or
    /// revoked, key shared, request refused. Handlers run on the thread of the transition and must not block.</summary>
    public event EventHandler<SwarmEvent>? Changed;

    /// <summary>The swarm's id (chosen at creation, carried in every request).</summary>
    public string SwarmId { get; }

    /// <summary>Our peer id: the owner's.</summary>
    public PeerId PeerId => _host.PeerId;

    /// <summary>The current swarm key.</summary>
    public SwarmKey CurrentKey => _store.ReadKeys().First(k => k.IsCurrent).Key;

    /// <summary>Whether the host is in the private swarm now.</summary>
    public bool IsJoined => _store.ReadSwarm()?.Joined == true && _host.PrivateNetworkKeys.Key is not null;

    /// <summary>
    /// Creates a new swarm in <paramref name="store"/> (which must not hold one yet): records us as owner, generates the
    /// first swarm key, stores <paramref name="authorizedPeers"/> and <paramref name="bootstrap"/> addresses.
    /// </summary>
    /// <param name="host">Our host; its identity is the owner's.</param>
    /// <param name="identity">The host's identity key (signs responses and notifications).</param>
    /// <param name="store">Where the swarm is persisted.</param>
    /// <param name="swarmId">A name for the swarm; a random one when null.</param>
    /// <param name="authorizedPeers">Peers allowed to fetch the key.</param>
    /// <param name="bootstrap">Bootstrap node addresses; none: members use our listen addresses.</param>
    /// <param name="options">Limits and periods; defaults when null.</param>
    /// <param name="loggerFactory">Where logs go.</param>
    /// <param name="timeProvider">Clock for freshness and grace periods.</param>
    /// <exception cref="InvalidOperationException">The store already holds a swarm.</exception>
    /// <exception cref="ArgumentException"><paramref name="identity"/> is not the host's identity.</exception>
    public static SwarmOwner Create(P2PHost host, PrivateKey identity, SwarmStore store, string? swarmId = null,
        IEnumerable<PeerId>? authorizedPeers = null, IEnumerable<Multiaddr>? bootstrap = null,
        SwarmOptions? options = null, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        CheckIdentity(host, identity);
        ArgumentNullException.ThrowIfNull(store);
        if (store.ReadSwarm() is { } existing)
        {
            throw new InvalidOperationException($"'{store.Path}' already holds swarm '{existing.SwarmId}'.");
        }
        var time = timeProvider ?? TimeProvider.System;
        swarmId ??= "swarm-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));
        var now = time.GetUtcNow();
        store.CreateSwarm(swarmId, host.PeerId, SwarmRole.Owner, [], now);
        store.SetCurrentKey(SwarmKey.Generate(), now, null);
        store.SetBootstrap(bootstrap ?? []);
        var owner = new SwarmOwner(host, identity, store, swarmId, options, loggerFactory, timeProvider);
        foreach (var peer in authorizedPeers ?? [])
        {
            owner.Authorize(peer);
        }
        return owner;
    }

    /// <summary>Resumes the swarm persisted in <paramref name="store"/> (after a restart). Does not join: call <see cref="JoinAsync"/>.</summary>
    /// <exception cref="InvalidOperationException">The store holds no swarm, or a swarm owned by another peer.</exception>
    /// <exception cref="ArgumentException"><paramref name="identity"/> is not the host's identity.</exception>
    public static SwarmOwner Open(P2PHost host, PrivateKey identity, SwarmStore store,
        SwarmOptions? options = null, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        CheckIdentity(host, identity);
        ArgumentNullException.ThrowIfNull(store);
        var record = store.ReadSwarm() ?? throw new InvalidOperationException($"'{store.Path}' holds no swarm; create one first.");
        if (record.Role != SwarmRole.Owner || record.Owner != host.PeerId)
        {
            throw new InvalidOperationException($"Swarm '{record.SwarmId}' in '{store.Path}' is owned by {record.Owner}, not by {host.PeerId}.");
        }
        return new SwarmOwner(host, identity, store, record.SwarmId, options, loggerFactory, timeProvider);
    }

    internal static void CheckIdentity(P2PHost host, PrivateKey identity)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(identity);
        if (!host.PeerId.Matches(identity.PublicKey))
        {
            throw new ArgumentException($"The identity key is not the host's ({host.PeerId}).", nameof(identity));
        }
    }

    /// <summary>The swarm's state now.</summary>
    public SwarmStatus GetStatus()
    {
        var keys = _store.ReadKeys();
        var now = _time.GetUtcNow();
        var previous = keys.Where(k => !k.IsCurrent && k.GraceUntil > now).ToArray();
        var members = _store.ReadPeers().Select(p => p.Peer).ToArray();
        var connected = _host.Connections.Where(c => c.PrivateNetworkKey is not null).Select(c => c.RemotePeer).Distinct().ToArray();
        return new SwarmStatus(SwarmId, SwarmRole.Owner, PeerId, IsJoined, keys.FirstOrDefault(k => k.IsCurrent)?.Key.FingerprintHex,
            [.. previous.Select(k => k.Key.FingerprintHex)], previous.Length == 0 ? null : previous.Max(k => k.GraceUntil),
            members, connected, BootstrapAddresses());
    }

    /// <summary>Authorises <paramref name="peer"/> to fetch the swarm key. Its public key comes from the id when the id
    /// inlines it (Ed25519), else from the host's peer store (identify), else from its first signed request.</summary>
    /// <returns>False when it was already authorised.</returns>
    public bool Authorize(PeerId peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (peer == PeerId)
        {
            throw new ArgumentException("The owner is always in its swarm.", nameof(peer));
        }
        bool isNew = !_store.ReadPeers().Any(p => p.Peer == peer);
        var publicKey = peer.TryGetPublicKey() ?? _host.PeerStore.Get(peer)?.PublicKey;
        _store.AddPeer(peer, publicKey, _time.GetUtcNow());
        if (isNew)
        {
            Raise(new SwarmPeerAuthorized(SwarmId, peer));
        }
        return isNew;
    }

    /// <summary>Whether <paramref name="peer"/> is authorised now.</summary>
    public bool IsAuthorized(PeerId peer) => _store.ReadPeers().Any(p => p.Peer == peer);

    /// <summary>Replaces the bootstrap addresses handed to members (none: members use our listen addresses).</summary>
    public void SetBootstrap(IEnumerable<Multiaddr> addresses)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        _store.SetBootstrap(addresses);
    }

    /// <summary>The addresses members dial on joining: the configured bootstrap nodes, else our listen addresses.</summary>
    public IReadOnlyList<Multiaddr> BootstrapAddresses()
    {
        var configured = _store.ReadBootstrap();
        return configured.Count > 0 ? configured : _host.ListenAddresses;
    }

    /// <summary>
    /// Moves the host into the private swarm as its bootstrap node: closes listeners and public connections, accepts the
    /// current key (and, during a grace period, the previous ones) and listens again on the same addresses; then
    /// connects to the other configured bootstrap nodes.
    /// </summary>
    public async Task JoinAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var (current, accepted) = KeysInForce();
            await PrivateNetworkSwitch.EnterAsync(_host, current, accepted, cancellationToken).ConfigureAwait(false);
            _store.SetJoined(true);
            int reached = 0;
            foreach (var address in _store.ReadBootstrap().Where(a => a.GetPeerId() is { } id && id != PeerId))
            {
                try
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    timeout.CancelAfter(_options.ExchangeTimeout);
                    await _host.DialAsync(address, timeout.Token).ConfigureAwait(false);
                    reached++;
                }
                catch (Exception e) when (e is IOException or TimeoutException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
                {
                    SwarmLog.BootstrapFailed(_logger, SwarmId, address.ToString(), e.Message);
                }
            }
            SwarmLog.Joined(_logger, SwarmId, current.FingerprintHex, reached);
            Raise(new SwarmJoined(SwarmId, current.FingerprintHex, reached));
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Returns the host to the public network: removes the keys, closes private connections and listens again.</summary>
    public async Task LeaveAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _store.SetJoined(false);
            await PrivateNetworkSwitch.LeaveAsync(_host, cancellationToken).ConfigureAwait(false);
            SwarmLog.Left(_logger, SwarmId);
            Raise(new SwarmLeft(SwarmId));
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The current key and the previous keys still inside their grace period.</summary>
    private (SwarmKey Current, IReadOnlyList<SwarmKey> Accepted) KeysInForce()
    {
        var now = _time.GetUtcNow();
        var keys = _store.ReadKeys();
        var current = keys.First(k => k.IsCurrent).Key;
        return (current, [.. keys.Where(k => !k.IsCurrent && k.GraceUntil > now).Select(k => k.Key)]);
    }

    private void Raise(SwarmEvent swarmEvent) => SwarmEventDispatch.Raise(Changed, this, swarmEvent, _logger);

    /// <summary>Removes the handlers and waits for background work (notifications, grace timers). The host and store stay open.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _host.RemoveStreamHandler(SwarmProtocols.KeyExchange);
        StopAllEnrolment();
        _connectedSubscription.Dispose();
        await _disposing.CancelAsync().ConfigureAwait(false);
        await _background.WhenAllAsync(_options.ExchangeTimeout).ConfigureAwait(false);
        _graceTimer?.Dispose();
        _disposing.Dispose();
        _gate.Dispose();
    }
}
