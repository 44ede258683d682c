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
/// An authorised peer of a private swarm: fetches the swarm key from the owner (<see cref="RequestKeyAsync"/>), moves
/// its host into the swarm (<see cref="JoinAsync"/>) or back (<see cref="LeaveAsync"/>), and follows the owner's key
/// rotations: on a signed notification it fetches the new key over its existing connection and switches, accepting
/// the previous key until the grace period ends.
/// </summary>
/// <remarks>Thread-safe. Registers the notification handler on the host; does not own the host or the store.</remarks>
public sealed partial class SwarmMember : IAsyncDisposable
{
    private readonly P2PHost _host;
    private readonly PrivateKey _identity;
    private readonly SwarmStore? _store;
    private readonly SwarmOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly TaskTracker _background = new();
    private readonly CancellationTokenSource _disposing = new();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly NonceCache _notificationNonces;
    private readonly HashSet<PeerId> _revoked = [];
    private readonly IDisposable _connectedSubscription;
    private readonly RevokedPeerGater _gater;
    private readonly Lock _lock = new();
    private SwarmKey? _key;
    private SwarmKey? _previousKey;
    private DateTimeOffset? _graceUntil;
    private IReadOnlyList<Multiaddr> _bootstrap = [];
    private bool _joined;
    private CancellationTokenSource? _graceTimer;
    private int _disposed;

    /// <summary>Creates a member of the swarm described by <paramref name="membership"/>.</summary>
    /// <param name="host">Our host.</param>
    /// <param name="identity">The host's identity key (signs key requests).</param>
    /// <param name="membership">The swarm, its owner and where to reach it.</param>
    /// <param name="store">Where to persist the key and bootstrap addresses (optional); a key stored earlier for the same swarm is loaded.</param>
    /// <param name="options">Limits and periods; defaults when null.</param>
    /// <param name="loggerFactory">Where logs go.</param>
    /// <param name="timeProvider">Clock for timestamps and grace periods.</param>
    /// <exception cref="ArgumentException"><paramref name="identity"/> is not the host's identity.</exception>
    /// <exception cref="InvalidOperationException"><paramref name="store"/> holds another swarm.</exception>
    public SwarmMember(P2PHost host, PrivateKey identity, SwarmMembership membership, SwarmStore? store = null,
        SwarmOptions? options = null, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        SwarmOwner.CheckIdentity(host, identity);
        ArgumentNullException.ThrowIfNull(membership);
        _host = host;
        _identity = identity;
        Membership = membership;
        _store = store;
        _options = options ?? new SwarmOptions();
        _options.Validate();
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<SwarmMember>();
        _time = timeProvider ?? TimeProvider.System;
        _notificationNonces = new NonceCache(1024, 1024); // one signer: the owner
        if (store is not null)
        {
            LoadFrom(store);
        }
        // Revoked peers are refused by peer id, before any stream, whatever key they hold.
        _gater = new RevokedPeerGater(host.Options.ConnectionGater, IsRevoked);
        host.Options.ConnectionGater = _gater;
        host.SetStreamHandler(SwarmProtocols.Notify, HandleNotificationAsync);
        _connectedSubscription = host.Events.Subscribe<PeerConnectednessChanged>(OnConnectednessChanged);
    }

    /// <summary>Resumes the membership persisted in <paramref name="store"/> by an earlier <see cref="SwarmMember"/>.</summary>
    /// <exception cref="InvalidOperationException">The store holds no membership.</exception>
    public static SwarmMember Open(P2PHost host, PrivateKey identity, SwarmStore store,
        SwarmOptions? options = null, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        var record = store.ReadSwarm();
        if (record is null || record.Role != SwarmRole.Member)
        {
            throw new InvalidOperationException($"'{store.Path}' holds no swarm membership.");
        }
        return new SwarmMember(host, identity, new SwarmMembership(record.SwarmId, record.Owner, record.OwnerAddresses), store, options, loggerFactory, timeProvider);
    }

    /// <summary>Raised after every transition: key received, joined, left, key rotated, grace period ended.</summary>
    public event EventHandler<SwarmEvent>? Changed;

    /// <summary>The swarm and its owner.</summary>
    public SwarmMembership Membership { get; }

    /// <summary>The swarm key, once fetched.</summary>
    public SwarmKey? Key
    {
        get
        {
            lock (_lock)
            {
                return _key;
            }
        }
    }

    /// <summary>Whether the host is in the private swarm now.</summary>
    public bool IsJoined
    {
        get
        {
            lock (_lock)
            {
                return _joined;
            }
        }
    }

    /// <summary>The membership's state now.</summary>
    public SwarmStatus GetStatus()
    {
        lock (_lock)
        {
            var connected = _host.Connections.Where(c => c.PrivateNetworkKey is not null).Select(c => c.RemotePeer).Distinct().ToArray();
            var accepted = _previousKey is not null && _graceUntil > _time.GetUtcNow() ? new[] { _previousKey.FingerprintHex } : [];
            return new SwarmStatus(Membership.SwarmId, SwarmRole.Member, Membership.Owner, _joined, _key?.FingerprintHex, accepted,
                accepted.Length > 0 ? _graceUntil : null, [], connected, _bootstrap);
        }
    }

    /// <summary>
    /// Fetches the swarm key from the owner over <see cref="SwarmProtocols.KeyExchange"/>: reuses an open connection to
    /// the owner, else dials <see cref="SwarmMembership.OwnerAddresses"/> (on the network the host is on now).
    /// </summary>
    /// <exception cref="SwarmKeyExchangeException">The owner refused (see its <see cref="SwarmKeyExchangeException.Status"/>) or its answer did not verify.</exception>
    /// <exception cref="IOException">The owner cannot be reached.</exception>
    public async Task<SwarmKey> RequestKeyAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposing.Token);
        timeout.CancelAfter(_options.ExchangeTimeout);
        var connection = await ConnectToOwnerAsync(timeout.Token).ConfigureAwait(false);
        var result = await KeyExchangeClient.RequestAsync(connection, _identity, Membership.SwarmId, Membership.Owner, _time.GetUtcNow(),
            _options.MaxMessageSize, timeout.Token).ConfigureAwait(false);
        await AdoptAsync(result, notifiedGrace: null).ConfigureAwait(false);
        Raise(new SwarmKeyReceived(Membership.SwarmId, result.Key.FingerprintHex));
        return result.Key;
    }

    private async Task<P2PConnection> ConnectToOwnerAsync(CancellationToken cancellationToken)
    {
        if (_host.GetConnections(Membership.Owner) is [var existing, ..])
        {
            return existing;
        }
        var errors = new List<Exception>();
        foreach (var address in Membership.OwnerAddresses.Concat(_bootstrap.Where(a => a.GetPeerId() == Membership.Owner)).Distinct())
        {
            try
            {
                return await _host.DialAsync(address.WithoutPeerId().WithPeerId(Membership.Owner), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or TimeoutException)
            {
                errors.Add(e);
            }
        }
        throw new IOException($"Cannot reach the swarm owner {Membership.Owner}: "
            + (errors.Count == 0 ? "no address is known" : string.Join("; ", errors.Select(e => e.Message))));
    }

    /// <summary>
    /// Moves the host into the private swarm: fetches the key first if we have none, applies the key (the listeners stay
    /// open and take only connections with it from then on), closes public connections, and connects to the bootstrap
    /// nodes.
    /// </summary>
    /// <returns>How many bootstrap nodes were reached.</returns>
    public async Task<int> JoinAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (Key is null)
        {
            await RequestKeyAsync(cancellationToken).ConfigureAwait(false);
        }
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            SwarmKey key;
            IReadOnlyList<SwarmKey> accepted;
            IReadOnlyList<Multiaddr> bootstrap;
            lock (_lock)
            {
                key = _key!;
                accepted = _previousKey is not null && _graceUntil > _time.GetUtcNow() ? [_previousKey] : [];
                bootstrap = _bootstrap.Count > 0 ? _bootstrap : Membership.OwnerAddresses;
            }
            await PrivateNetworkSwitch.EnterAsync(_host, key, accepted, cancellationToken).ConfigureAwait(false);
            DateTimeOffset? graceUntil;
            lock (_lock)
            {
                _joined = true;
                graceUntil = _graceUntil;
            }
            if (accepted.Count > 0 && graceUntil is { } until)
            {
                // Resumed inside a grace period (e.g. after a restart): the previous key is dropped when it ends.
                ScheduleGraceEnd(until);
            }
            _store?.SetJoined(true);
            int reached = await ConnectBootstrapAsync(bootstrap, cancellationToken).ConfigureAwait(false);
            SwarmLog.Joined(_logger, Membership.SwarmId, key.FingerprintHex, reached);
            Raise(new SwarmJoined(Membership.SwarmId, key.FingerprintHex, reached));
            return reached;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<int> ConnectBootstrapAsync(IReadOnlyList<Multiaddr> bootstrap, CancellationToken cancellationToken)
    {
        int reached = 0;
        foreach (var address in bootstrap)
        {
            var peer = address.GetPeerId() ?? (address.Equals(address.WithoutPeerId()) ? Membership.Owner : null);
            if (peer is null || peer == _host.PeerId)
            {
                continue;
            }
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(_options.ExchangeTimeout);
                await _host.DialAsync(address.WithoutPeerId().WithPeerId(peer), timeout.Token).ConfigureAwait(false);
                reached++;
            }
            catch (Exception e) when (e is IOException or TimeoutException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                SwarmLog.BootstrapFailed(_logger, Membership.SwarmId, address.ToString(), e.Message);
            }
        }
        return reached;
    }

    /// <summary>Returns the host to the public network: removes the key and closes private connections. The key is kept for a later join.</summary>
    public async Task LeaveAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            lock (_lock)
            {
                _joined = false;
            }
            _store?.SetJoined(false);
            await PrivateNetworkSwitch.LeaveAsync(_host, cancellationToken).ConfigureAwait(false);
            SwarmLog.Left(_logger, Membership.SwarmId);
            Raise(new SwarmLeft(Membership.SwarmId));
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Forgets the swarm key (and removes it from the store): the next join fetches it again. Call after <see cref="LeaveAsync"/>.</summary>
    /// <exception cref="InvalidOperationException">The host is still in the swarm.</exception>
    public void ForgetKey()
    {
        lock (_lock)
        {
            if (_joined)
            {
                throw new InvalidOperationException("Leave the swarm before forgetting its key.");
            }
            _key = null;
            _previousKey = null;
            _graceUntil = null;
        }
        _store?.ClearKeys();
    }

    private void LoadFrom(SwarmStore store)
    {
        var record = store.ReadSwarm();
        if (record is null)
        {
            store.CreateSwarm(Membership.SwarmId, Membership.Owner, SwarmRole.Member, Membership.OwnerAddresses, _time.GetUtcNow());
            return;
        }
        if (record.Role != SwarmRole.Member || record.SwarmId != Membership.SwarmId || record.Owner != Membership.Owner)
        {
            throw new InvalidOperationException($"'{store.Path}' holds swarm '{record.SwarmId}' of {record.Owner} as {record.Role}, not this membership.");
        }
        if (Membership.OwnerAddresses.Count > 0)
        {
            store.SetOwnerAddresses(Membership.OwnerAddresses);
        }
        var keys = store.ReadKeys();
        _key = keys.FirstOrDefault(k => k.IsCurrent)?.Key;
        var previous = keys.FirstOrDefault(k => !k.IsCurrent);
        _previousKey = previous?.Key;
        _graceUntil = previous?.GraceUntil;
        _bootstrap = store.ReadBootstrap();
        _revoked.UnionWith(store.ReadRevoked());
    }

    private void Persist()
    {
        if (_store is null)
        {
            return;
        }
        SwarmKey? key;
        DateTimeOffset? grace;
        IReadOnlyList<Multiaddr> bootstrap;
        lock (_lock)
        {
            key = _key;
            grace = _previousKey is null ? null : _graceUntil;
            bootstrap = _bootstrap;
        }
        if (key is not null && _store.ReadKeys().FirstOrDefault(k => k.IsCurrent)?.Key.Equals(key) != true)
        {
            _store.SetCurrentKey(key, _time.GetUtcNow(), grace ?? _time.GetUtcNow());
        }
        _store.DropExpiredKeys(_time.GetUtcNow());
        _store.SetBootstrap(bootstrap);
    }

    private void Raise(SwarmEvent swarmEvent) => SwarmEventDispatch.Raise(Changed, this, swarmEvent, _logger);

    /// <summary>Removes the handler and waits for background work. The host and store stay open.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _host.RemoveStreamHandler(SwarmProtocols.Notify);
        _connectedSubscription.Dispose();
        if (ReferenceEquals(_host.Options.ConnectionGater, _gater))
        {
            _host.Options.ConnectionGater = _gater.Inner;
        }
        await _disposing.CancelAsync().ConfigureAwait(false);
        await _background.WhenAllAsync(_options.ExchangeTimeout).ConfigureAwait(false);
        _graceTimer?.Dispose();
        _disposing.Dispose();
        _gate.Dispose();
    }
}
