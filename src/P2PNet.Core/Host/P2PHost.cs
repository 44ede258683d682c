using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Crypto;
using P2PNet.Discovery.Internal;
using P2PNet.Discovery.Mdns;
using P2PNet.Host.Internal;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Peers.Internal;
using P2PNet.Protocols.Identify;
using P2PNet.Protocols.Perf;
using P2PNet.Protocols.Ping;
using P2PNet.Resources;
using P2PNet.Resources.Internal;
using P2PNet.Security.Noise;
using P2PNet.Transports;
using P2PNet.Transports.Tcp;
using P2PNet.Transports.WebSockets;

namespace P2PNet.Host;

/// <summary>
/// A libp2p host: listens and dials over TCP, secures connections with Noise, multiplexes them with Yamux,
/// negotiates every stream with multistream-select, and serves identify, ping (and perf when enabled) beside the
/// application's own protocols. Interoperates with go-, rust- and js-libp2p.
/// </summary>
/// <remarks>
/// Thread-safe. Create it, optionally register handlers with <see cref="SetStreamHandler"/>, then
/// <see cref="StartAsync"/> (or <see cref="ListenAsync"/>) and <see cref="DialAsync(Multiaddr, CancellationToken)"/>.
/// <see cref="StopAsync"/> / <see cref="DisposeAsync"/> close every listener and connection gracefully.
/// </remarks>
public sealed partial class P2PHost : IAsyncDisposable
{
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly PrivateKey _identity;
    private readonly bool _ownsIdentity;
    private readonly Lazy<NoiseIdentity> _noiseIdentity;
    private readonly List<ITransport> _transports;
    private readonly ConcurrentDictionary<string, StreamHandler> _handlers = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly Dictionary<PeerId, List<P2PConnection>> _connections = [];
    private readonly Dictionary<PeerId, Task<P2PConnection>> _pendingDials = [];
    private readonly List<(ITransportListener Listener, Task AcceptLoop)> _listeners = [];
    private readonly TaskTracker _background = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly IdentifyService _identify;
    private Task? _maintenance;
    private readonly SqlitePeerStorage? _storage;
    private readonly IReadOnlyList<PeerRecord> _storedPeers = [];
    private MdnsDiscovery? _mdns;
    private BootstrapDialer? _bootstrap;
    private IDisposable? _mdnsAnnouncer;
    private Security.Pnet.SwarmKey? _privateKey;
    private IReadOnlyList<Security.Pnet.SwarmKey> _acceptedKeys = [];
    private readonly ResourceManager _resources;
    private int _state; // 0 created, 1 started, 2 stopping, 3 stopped

    /// <summary>Creates a host. Nothing listens or dials until <see cref="StartAsync"/> or <see cref="ListenAsync"/>.</summary>
    /// <param name="options">Settings; the identity, if set, is owned by the caller.</param>
    /// <param name="loggerFactory">Where logs go; none by default.</param>
    /// <param name="meterFactory">Where metrics go; a process-wide meter by default.</param>
    /// <param name="transports">Transports to use; TCP and WebSockets by default.</param>
    /// <param name="timeProvider">Clock for timeouts; the system clock by default.</param>
    public P2PHost(P2PHostOptions? options = null, ILoggerFactory? loggerFactory = null, IMeterFactory? meterFactory = null,
        IEnumerable<ITransport>? transports = null, TimeProvider? timeProvider = null)
    {
        Options = options ?? new P2PHostOptions();
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = _loggerFactory.CreateLogger<P2PHost>();
        TimeProvider = timeProvider ?? TimeProvider.System;
        _ownsIdentity = Options.Identity is null;
        _identity = Options.Identity ?? PrivateKey.GenerateEd25519();
        PeerId = _identity.PublicKey.ToPeerId();
        // One Noise static key and signature for every handshake, made at the first one.
        _noiseIdentity = new Lazy<NoiseIdentity>(() => new NoiseIdentity(_identity));
        Metrics = new HostMetrics(meterFactory, () => Connections);
        _resources = new ResourceManager(Options.Resources, _loggerFactory.CreateLogger<ResourceManager>(), Metrics.Meter, TimeProvider);
        _transports = transports?.ToList() ?? [new TcpTransport(Options.Tcp, _loggerFactory), new WebSocketTransport(Options.WebSockets, _loggerFactory)];
        PeerStore = new PeerStore(TimeProvider);
        Events = new EventBus(_loggerFactory.CreateLogger<EventBus>());
        _privateKey = Options.PrivateNetworkKey;
        _acceptedKeys = [.. Options.AcceptedPrivateNetworkKeys];
        _identify = new IdentifyService(this, _loggerFactory.CreateLogger<IdentifyService>());
        SetStreamHandler(PingProtocol.Id, PingProtocol.HandleAsync);
        if (Options.EnablePerf)
        {
            SetStreamHandler(PerfProtocol.Id, PerfProtocol.HandleAsync);
        }
        _identify.Register();
        if (Options.BootstrapPeers.FirstOrDefault(a => a.GetPeerId() is null) is { } withoutId)
        {
            throw new ArgumentException($"The bootstrap address {withoutId} has no /p2p/<peer id>.", nameof(options));
        }
        if (Options.PeerStore.DatabasePath is { } path)
        {
            _storage = new SqlitePeerStorage(path, PeerStore, Options.PeerStore.FlushInterval, TimeProvider);
            _storedPeers = _storage.Load();
            _storage.Start();
        }
    }

    /// <summary>Our peer id.</summary>
    public PeerId PeerId { get; }

    /// <summary>Our public identity key.</summary>
    public PublicKey PublicKey => _identity.PublicKey;

    /// <summary>The settings in force.</summary>
    public P2PHostOptions Options { get; }

    /// <summary>What we know about other peers.</summary>
    public PeerStore PeerStore { get; }

    /// <summary>Host events: addresses, identify, connectedness, reachability, NAT type.</summary>
    public EventBus Events { get; }

    /// <summary>The protocols we serve.</summary>
    public IReadOnlyCollection<string> Protocols => [.. _handlers.Keys.Order(StringComparer.Ordinal)];

    internal TimeProvider TimeProvider { get; }

    internal HostMetrics Metrics { get; }

    internal ResourceManager Resources => _resources;

    /// <summary>What the host holds now of its resource budgets (<see cref="P2PHostOptions.Resources"/>), and how many
    /// requests it refused.</summary>
    public ResourceUsage GetResourceUsage() => _resources.Snapshot();

    /// <summary>What the connections of <paramref name="peer"/> hold now; <see langword="null"/> when it has none.</summary>
    public ScopeUsage? GetResourceUsage(PeerId peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        return _resources.PeerUsage(peer);
    }

    /// <summary>Streams open now on <paramref name="protocol"/>, all peers (empty if none ever was).</summary>
    public ScopeUsage GetResourceUsage(string protocol)
    {
        ArgumentNullException.ThrowIfNull(protocol);
        return _resources.ProtocolUsage(protocol);
    }

    internal PrivateKey Identity => _identity;

    internal NoiseIdentity NoiseIdentity => _noiseIdentity.Value;

    internal ILoggerFactory LoggerFactory => _loggerFactory;

    internal CancellationToken StoppingToken => _stopping.Token;

    /// <summary>Owns a background task: <see cref="StopAsync"/> waits for it.</summary>
    internal void TrackBackground(Task task) => _background.Track(task);

    /// <summary>Every open connection.</summary>
    public IReadOnlyList<P2PConnection> Connections
    {
        get
        {
            lock (_lock)
            {
                return [.. _connections.Values.SelectMany(c => c)];
            }
        }
    }

    /// <summary>Peers we have at least one connection to.</summary>
    public IReadOnlyList<PeerId> ConnectedPeers
    {
        get
        {
            lock (_lock)
            {
                return [.. _connections.Keys];
            }
        }
    }

    /// <summary>Open connections to <paramref name="peer"/>.</summary>
    public IReadOnlyList<P2PConnection> GetConnections(PeerId peer)
    {
        lock (_lock)
        {
            return _connections.TryGetValue(peer, out var list) ? [.. list] : [];
        }
    }

    /// <summary>Serves <paramref name="protocol"/> with <paramref name="handler"/> (replacing any earlier handler);
    /// connected peers learn of it through identify push.</summary>
    public void SetStreamHandler(string protocol, StreamHandler handler)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(protocol);
        ArgumentNullException.ThrowIfNull(handler);
        if (!protocol.StartsWith('/') || protocol.Length > 1000 || protocol.Contains('\n', StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{protocol}' is not a valid protocol id: it must start with '/', be at most 1000 characters and have no newline.", nameof(protocol));
        }
        bool added = _handlers.TryAdd(protocol, handler);
        if (!added)
        {
            _handlers[protocol] = handler;
        }
        else if (_state == 1)
        {
            _identify.PushToAll();
        }
    }

    /// <summary>Stops serving <paramref name="protocol"/>.</summary>
    public bool RemoveStreamHandler(string protocol)
    {
        bool removed = _handlers.TryRemove(protocol, out _);
        if (removed && _state == 1)
        {
            _identify.PushToAll();
        }
        return removed;
    }

    internal bool HasHandler(string protocol) => _handlers.ContainsKey(protocol);

    internal StreamHandler? GetHandler(string protocol) => _handlers.GetValueOrDefault(protocol);

    /// <summary>Starts listening on <see cref="P2PHostOptions.ListenAddresses"/> and the host's maintenance.</summary>
    public async ValueTask StartAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            ObjectDisposedException.ThrowIf(_state >= 2, this);
            return;
        }
        StartServices();
        foreach (var address in Options.ListenAddresses)
        {
            await ListenAsync(address, cancellationToken).ConfigureAwait(false);
        }
    }

    private void EnsureStarted()
    {
        ObjectDisposedException.ThrowIf(_state >= 2, this);
        if (Interlocked.CompareExchange(ref _state, 1, 0) == 0)
        {
            StartServices();
        }
    }

    /// <summary>Maintenance, mDNS, bootstrap dials and reconnection to stored peers: all owned by the host.</summary>
    private void StartServices()
    {
        _maintenance = MaintenanceLoopAsync();
        if (Options.Mdns.Enabled)
        {
            _mdns = new MdnsDiscovery(this, Options.Mdns, _loggerFactory.CreateLogger<MdnsDiscovery>());
            _mdns.Start();
            // Announce at once when our addresses change, instead of waiting for the next query.
            _mdnsAnnouncer = Events.Subscribe<LocalAddressesUpdated>(_ => _background.Track(_mdns.AnnounceAsync()));
        }
        if (Options.BootstrapPeers.Count > 0)
        {
            _bootstrap = new BootstrapDialer(this, Options.BootstrapPeers, Options.Bootstrap, _loggerFactory.CreateLogger<BootstrapDialer>());
            _bootstrap.Start();
        }
        var bootstrapIds = Options.BootstrapPeers.Select(a => a.GetPeerId()).OfType<PeerId>().ToHashSet();
        foreach (var record in _storedPeers.Where(r => !bootstrapIds.Contains(r.Peer) && r.Addresses.Count > 0).Take(Math.Max(0, Options.PeerStore.ReconnectOnStart)))
        {
            _background.Track(ReconnectAsync(record.Peer));
        }
    }

    private async Task ReconnectAsync(PeerId peer)
    {
        try
        {
            await DialAsync(peer, _stopping.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or TimeoutException or OperationCanceledException or NotSupportedException or ObjectDisposedException)
        {
            HostLog.ReconnectFailed(_logger, peer, e.Message);
        }
    }

    internal bool CanDial(Multiaddr address) => _transports.Any(t => t.CanDial(address));

    internal void PublishEvent(HostEvent hostEvent) => Events.Publish(hostEvent);

    private async Task MaintenanceLoopAsync()
    {
        var idle = Options.IdleTimeout;
        if (idle <= TimeSpan.Zero)
        {
            return;
        }
        var period = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(100).Ticks, Math.Min(idle.Ticks / 4, TimeSpan.FromSeconds(5).Ticks)));
        using var timer = new PeriodicTimer(period, TimeProvider);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                foreach (var connection in Connections)
                {
                    if (connection.StreamCount == 0 && TimeProvider.GetElapsedTime(connection.LastActivity) >= idle && !IsProtected(connection.RemotePeer))
                    {
                        HostLog.ClosingIdle(_logger, connection.Id, connection.RemotePeer);
                        _background.Track(connection.DisposeAsync().AsTask());
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// Closes every listener and connection and stops, within <see cref="P2PHostOptions.ShutdownTimeout"/>: connections
    /// close gracefully for at most <see cref="P2PHostOptions.ConnectionCloseTimeout"/> and are then aborted, so a peer
    /// that stopped reading cannot hold the host open. Concurrent and later calls wait for the same stop.
    /// </summary>
    /// <param name="cancellationToken">Shortens the wait: connections still closing are aborted.</param>
    /// <remarks>Never throws because of a peer (reset, abort, I/O errors): those are logged.</remarks>
    public async ValueTask StopAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _state, 2) >= 2)
        {
            await _stopped.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            return;
        }
        try
        {
            await StopCoreAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _state = 3;
            _stopped.TrySetResult();
        }
    }

    private async Task StopCoreAsync(CancellationToken cancellationToken)
    {
        // The system clock, as for each connection's close: the deadline is a promise to whoever stops the host.
        long started = TimeProvider.System.GetTimestamp();
        TimeSpan Remaining() => Options.ShutdownTimeout - TimeProvider.System.GetElapsedTime(started) is var left && left > TimeSpan.Zero ? left : TimeSpan.Zero;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(Options.ShutdownTimeout);

        await _stopping.CancelAsync().ConfigureAwait(false);
        _mdnsAnnouncer?.Dispose();
        if (_mdns is not null)
        {
            await ShutdownStepAsync("mDNS", _mdns.DisposeAsync().AsTask(), deadline.Token).ConfigureAwait(false);
        }
        if (_bootstrap is not null)
        {
            await ShutdownStepAsync("the bootstrap dialer", _bootstrap.DisposeAsync().AsTask(), deadline.Token).ConfigureAwait(false);
        }
        (ITransportListener Listener, Task AcceptLoop)[] listeners;
        lock (_lock)
        {
            listeners = [.. _listeners];
            _listeners.Clear();
        }
        foreach (var (listener, _) in listeners)
        {
            await ShutdownStepAsync("closing a listener", listener.DisposeAsync().AsTask(), deadline.Token).ConfigureAwait(false);
        }
        await ShutdownStepAsync("the accept loops", Task.WhenAll(listeners.Select(l => l.AcceptLoop)), deadline.Token).ConfigureAwait(false);
        await CloseConnectionsAsync(Remaining(), deadline.Token).ConfigureAwait(false);
        await _background.WhenAllAsync(Remaining()).ConfigureAwait(false);
        // A handshake that finished while the others closed: close it too (it aborts at once if the time is up).
        await CloseConnectionsAsync(Remaining(), deadline.Token).ConfigureAwait(false);
        if (_maintenance is not null)
        {
            await ShutdownStepAsync("maintenance", _maintenance, deadline.Token).ConfigureAwait(false);
        }
        PublishAddresses(listeners.Select(l => l.Listener.LocalAddress).ToArray(), removed: true);
        if (_storage is not null)
        {
            // Local work (the last flush of the peer store), not bounded by peers: waited for in full.
            await _storage.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task CloseConnectionsAsync(TimeSpan remaining, CancellationToken deadline)
    {
        var open = Connections;
        if (open.Count == 0)
        {
            return;
        }
        TimeSpan each = Options.ConnectionCloseTimeout < remaining ? Options.ConnectionCloseTimeout : remaining;
        var closing = open.Select(c => c.CloseWithinAsync(each).AsTask()).ToArray();
        if (!await ShutdownStepAsync("closing connections", Task.WhenAll(closing), deadline).ConfigureAwait(false))
        {
            // Each connection aborts its transport at its own deadline (at most the remaining time); wait for that.
            await ShutdownStepAsync("aborting connections", Task.WhenAll(closing), CancellationToken.None, TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        }
    }

    /// <summary>Waits for one step of the shutdown until <paramref name="deadline"/> (or <paramref name="limit"/>);
    /// logs and swallows its failure (peer-caused: a reset, an I/O error) and a step that is not done in time.</summary>
    private async Task<bool> ShutdownStepAsync(string what, Task step, CancellationToken deadline, TimeSpan? limit = null)
    {
        try
        {
            await (limit is { } l ? step.WaitAsync(l, deadline) : step.WaitAsync(deadline)).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (!step.IsCompleted && e is OperationCanceledException or TimeoutException)
        {
            HostLog.ShutdownIncomplete(_logger, what, Options.ShutdownTimeout);
            return false;
        }
#pragma warning disable CA1031 // stopping never fails because of a peer; the reason is logged
        catch (Exception e)
#pragma warning restore CA1031
        {
            HostLog.ShutdownStepFailed(_logger, what, e.Message);
            return true;
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stopping.Dispose();
        Metrics.Dispose();
        if (_noiseIdentity.IsValueCreated)
        {
            _noiseIdentity.Value.Dispose();
        }
        if (_ownsIdentity)
        {
            _identity.Dispose();
        }
    }

    /// <summary>Our peer id and listen addresses.</summary>
    public override string ToString() => $"P2PHost {PeerId} [{string.Join(", ", ListenAddresses)}]";
}
