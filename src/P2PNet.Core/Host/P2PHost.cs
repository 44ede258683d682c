using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Crypto;
using P2PNet.Discovery.Internal;
using P2PNet.Discovery.Mdns;
using P2PNet.Discovery.Mdns.Internal;
using P2PNet.Host.Internal;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Peers.Internal;
using P2PNet.Protocols.Identify;
using P2PNet.Protocols.Perf;
using P2PNet.Protocols.Ping;
using P2PNet.Resources;
using P2PNet.Resources.Internal;
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
    private readonly SqlitePeerStorage? _storage;
    private readonly HostServices _services;
    private TaskCompletionSource? _started;
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
        // The services, in start order (they stop in reverse). Nothing here opens a file or starts a loop: that is
        // StartAsync's work, so a host that is never started leaves no trace.
        _services = new HostServices(_logger);
        if (Options.PeerStore.DatabasePath is { } path)
        {
            _storage = new SqlitePeerStorage(path, PeerStore, Options.PeerStore.FlushInterval, TimeProvider);
            _services.Add(_storage);
        }
        _services.Add(_identify);
        _services.Add(new IdleConnectionReaper(this));
        if (Options.Mdns.Enabled)
        {
            _services.Add(new MdnsService(this, Options.Mdns, _loggerFactory.CreateLogger<MdnsDiscovery>()));
        }
        if (Options.BootstrapPeers.Count > 0)
        {
            _services.Add(new BootstrapDialer(this, Options.BootstrapPeers, Options.Bootstrap, _loggerFactory.CreateLogger<BootstrapDialer>()));
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

    internal ILoggerFactory LoggerFactory => _loggerFactory;

    internal ILogger Logger => _logger;

    /// <summary>The host's services in start order (peer store, identify, idle maintenance, mDNS, bootstrap).</summary>
    internal HostServices Services => _services;

    /// <summary>How many background tasks the host owns now.</summary>
    internal int BackgroundCount => _background.Count;

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

    /// <summary>Starts the host's services (the peer store's database, identify, idle maintenance, mDNS, bootstrap, in
    /// that order), then listens on <see cref="P2PHostOptions.ListenAddresses"/>.</summary>
    /// <exception cref="HostServiceException">A service failed to start; those started before it were stopped.</exception>
    public async ValueTask StartAsync(CancellationToken cancellationToken = default)
    {
        if (!BeginStart(out var started))
        {
            await started.WaitAsync(cancellationToken).ConfigureAwait(false);
            return;
        }
        await started.WaitAsync(cancellationToken).ConfigureAwait(false);
        foreach (var address in Options.ListenAddresses)
        {
            await ListenAsync(address, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Starts the services unless already started (dialing or listening first starts them too); waits for them.</summary>
    private Task EnsureStartedAsync(CancellationToken cancellationToken)
    {
        BeginStart(out var started);
        return started.IsCompletedSuccessfully ? Task.CompletedTask : started.WaitAsync(cancellationToken);
    }

    /// <summary>True for the one caller that starts the services; every caller gets the task of their start.</summary>
    private bool BeginStart(out Task started)
    {
        TaskCompletionSource mine;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_state >= 2, this);
            if (_started is not null)
            {
                started = _started.Task;
                return false;
            }
            mine = _started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _state = 1;
        }
        started = mine.Task;
        _background.Track(StartServicesAsync(mine));
        return true;
    }

    /// <summary>Starts the services in order, then reconnects to stored peers.</summary>
    private async Task StartServicesAsync(TaskCompletionSource started)
    {
        try
        {
            await _services.StartAsync(_stopping.Token).ConfigureAwait(false);
        }
        catch (HostServiceException e)
        {
            started.TrySetException(e);
            return;
        }
        started.TrySetResult();
        if (_storage is null)
        {
            return;
        }
        var bootstrapIds = Options.BootstrapPeers.Select(a => a.GetPeerId()).OfType<PeerId>().ToHashSet();
        foreach (var record in _storage.Loaded.Where(r => !bootstrapIds.Contains(r.Peer) && r.Addresses.Count > 0).Take(Math.Max(0, Options.PeerStore.ReconnectOnStart)))
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

        // Services watch the stopping token: discovery and bootstrap go quiet here (no new dial) and are stopped below.
        await _stopping.CancelAsync().ConfigureAwait(false);
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
        PublishAddresses(listeners.Select(l => l.Listener.LocalAddress).ToArray(), removed: true);
        // The services in reverse order of start: bootstrap, mDNS, idle maintenance, identify, and the peer store last,
        // so its final flush holds what closing the connections changed. Local work: waited for in full.
        await _services.StopAsync(CancellationToken.None).ConfigureAwait(false);
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
        DisposeUpgrader();
        if (_ownsIdentity)
        {
            _identity.Dispose();
        }
    }

    /// <summary>Our peer id and listen addresses.</summary>
    public override string ToString() => $"P2PHost {PeerId} [{string.Join(", ", ListenAddresses)}]";
}
