using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Host;
using P2PNet.Messaging;
using P2PNet.Multiformats;
using P2PNet.Protocols.Nat;
using P2PNet.Protocols.Relay;

namespace P2PNet.Networking;

/// <summary>The <see cref="INetwork"/> of a libp2p <see cref="P2PHost"/>.</summary>
/// <remarks>Thread-safe once initialised. Events registered before <see cref="InitAsync"/> are attached when the host is created.</remarks>
public sealed class Libp2pNetwork : INetwork
{
    private readonly ILoggerFactory _loggerFactory;
    private readonly IMeterFactory? _meterFactory;
    private readonly List<Func<EventBus, IDisposable>> _pendingRegistrations = [];
    private readonly Lock _lock = new();
    private NetworkOptions _config = new();
    private P2PHost? _host;
    private Messenger? _messenger;
    private readonly List<IAsyncDisposable> _services = [];
    private RelayClient? _relayClient;
    private bool _stopped;

    /// <summary>Creates an unconfigured network.</summary>
    public Libp2pNetwork(ILoggerFactory? loggerFactory = null, IMeterFactory? meterFactory = null)
    {
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _meterFactory = meterFactory;
    }

    /// <inheritdoc />
    public P2PHost Host => _host ?? throw new InvalidOperationException("Call InitAsync first.");

    /// <inheritdoc />
    public IMessenger Messenger => _messenger ?? throw new InvalidOperationException("Call InitAsync first.");

    /// <inheritdoc />
    public void Config(NetworkOptions config)
    {
        ArgumentNullException.ThrowIfNull(config);
        lock (_lock)
        {
            if (_host is not null)
            {
                throw new InvalidOperationException("The network is already initialised; Config must come before InitAsync.");
            }
            _config = config;
        }
    }

    /// <inheritdoc />
    public async ValueTask InitAsync(CancellationToken cancellationToken = default)
    {
        P2PHost host;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_stopped, this);
            if (_host is not null)
            {
                throw new InvalidOperationException("The network is already initialised.");
            }
            host = new P2PHost(_config.Host, _loggerFactory, _meterFactory);
            foreach (var (protocol, handler) in _config.StreamHandlers)
            {
                host.SetStreamHandler(protocol, handler);
            }
            foreach (var register in _pendingRegistrations)
            {
                register(host.Events);
            }
            _pendingRegistrations.Clear();
            _messenger = new Messenger(host, _loggerFactory.CreateLogger<Messenger>(), _config.MaxMessageSize);
            _host = host;
        }
        await host.StartAsync(cancellationToken).ConfigureAwait(false);
        StartNatServices(host);
    }

    /// <summary>The NAT-traversal services <see cref="NetworkOptions"/> asks for, started once the host runs.</summary>
    private void StartNatServices(P2PHost host)
    {
        lock (_lock)
        {
            if (_config.RelayService is { } relayService)
            {
                var service = new RelayService(host, relayService, _loggerFactory.CreateLogger<RelayService>());
                service.Start();
                _services.Add(service);
            }
            if (_config.AutoNatService is { } autoNatService)
            {
                var service = new AutoNatService(host, autoNatService, _loggerFactory.CreateLogger<AutoNatService>());
                service.Start();
                _services.Add(service);
            }
            if (_config.HolePunching is { } holePunching)
            {
                var service = new HolePunchService(host, holePunching, _loggerFactory.CreateLogger<HolePunchService>());
                service.Start();
                _services.Add(service);
            }
            if (_config.AutoRelay is { } autoRelay)
            {
                _relayClient = new RelayClient(host, null, _loggerFactory.CreateLogger<RelayClient>());
                _relayClient.Start();
                var service = new AutoRelay(host, _relayClient, autoRelay, _loggerFactory.CreateLogger<AutoRelay>());
                service.Start();
                _services.Add(service);
                _services.Add(_relayClient);
            }
            if (_config.AutoNat is { } autoNat)
            {
                var service = new AutoNatClient(host, autoNat, _loggerFactory.CreateLogger<AutoNatClient>());
                service.Start();
                _services.Add(service);
            }
        }
    }

    /// <inheritdoc />
    public IDisposable EventRegister<TEvent>(Action<TEvent> handler) where TEvent : HostEvent
    {
        ArgumentNullException.ThrowIfNull(handler);
        lock (_lock)
        {
            if (_host is not null)
            {
                return _host.Events.Subscribe(handler);
            }
            var deferred = new DeferredSubscription();
            _pendingRegistrations.Add(bus => deferred.Attach(bus.Subscribe(handler)));
            return deferred;
        }
    }

    /// <inheritdoc />
    public ValueTask<P2PConnection> DialAsync(Multiaddr address, CancellationToken cancellationToken = default) =>
        Host.DialAsync(address, cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<Multiaddr>> ListenAsync(Multiaddr address, CancellationToken cancellationToken = default) =>
        Host.ListenAsync(address, cancellationToken);

    /// <inheritdoc />
    public NetworkStatus Status()
    {
        var host = _host;
        if (host is null)
        {
            throw new InvalidOperationException("Call InitAsync first.");
        }
        var connections = host.Connections;
        var peers = connections.GroupBy(c => c.RemotePeer).Select(g =>
        {
            var record = host.PeerStore.Get(g.Key);
            return new ConnectedPeer(g.Key, [.. g.Select(c => c.RemoteAddress)], record?.Protocols ?? [], record?.AgentVersion, g.Count())
            {
                RelayedConnections = g.Count(c => c.IsLimited),
            };
        }).ToArray();
        return new NetworkStatus(host.PeerId, !_stopped, host.ListenAddresses, [.. host.Protocols], peers,
            connections.Count, connections.Sum(c => c.StreamCount), host.Reachability)
        {
            Resources = host.GetResourceUsage(),
            NatDeviceType = host.NatDeviceType,
            ObservedAddresses = host.ObservedAddresses,
            Reservations = _relayClient?.Reservations ?? [],
        };
    }

    /// <inheritdoc />
    public async ValueTask StopAsync(CancellationToken cancellationToken = default)
    {
        P2PHost? host;
        Messenger? messenger;
        lock (_lock)
        {
            if (_stopped)
            {
                return;
            }
            _stopped = true;
            host = _host;
            messenger = _messenger;
        }
        IAsyncDisposable[] services;
        lock (_lock)
        {
            services = [.. _services];
            _services.Clear();
        }
        foreach (var service in services.Reverse())
        {
            await service.DisposeAsync().ConfigureAwait(false);
        }
        // The host first: removing the messenger's protocol from a running host would push identify to every peer.
        if (host is not null)
        {
            await host.StopAsync(cancellationToken).ConfigureAwait(false);
        }
        if (messenger is not null)
        {
            await messenger.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        if (_host is not null)
        {
            await _host.DisposeAsync().ConfigureAwait(false);
        }
    }

    private sealed class DeferredSubscription : IDisposable
    {
        private IDisposable? _inner;
        private bool _disposed;

        public DeferredSubscription Attach(IDisposable inner)
        {
            if (_disposed)
            {
                inner.Dispose();
            }
            else
            {
                _inner = inner;
            }
            return this;
        }

        public void Dispose()
        {
            _disposed = true;
            _inner?.Dispose();
        }
    }
}
