using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Host;
using P2PNet.Host.Internal;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Protocols.Relay.Internal;

namespace P2PNet.Protocols.Relay;

/// <summary>
/// Keeps a private node reachable: while AutoNAT says it is private, holds up to
/// <see cref="AutoRelayOptions.MaxReservations"/> reservations (static relays first, then connected peers that serve
/// the hop protocol), replaces one whose relay went away, and releases them when the node turns out public. The
/// circuit addresses join the host's addresses (<see cref="LocalAddressesUpdated"/>, identify push).
/// </summary>
/// <remarks>Reservations are made through <paramref name="client"/>, which renews them; thread-safe.</remarks>
/// <param name="host">The host.</param>
/// <param name="client">The relay client that makes and renews the reservations (started if it is not).</param>
/// <param name="options">Settings; the defaults when null.</param>
/// <param name="logger">Where decisions are logged.</param>
public sealed class AutoRelay(P2PHost host, RelayClient client, AutoRelayOptions? options = null, ILogger<AutoRelay>? logger = null)
    : IAsyncDisposable
{
    private readonly AutoRelayOptions _options = options ?? new AutoRelayOptions();
    private readonly ILogger _logger = logger ?? (ILogger)NullLogger.Instance;
    private readonly Dictionary<PeerId, DateTimeOffset> _backoff = [];
    private readonly HashSet<PeerId> _ours = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<IDisposable> _subscriptions = [];
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _loop = Task.CompletedTask;
    private ServiceLifecycle _lifecycle;

    /// <summary>Relays we hold a reservation on because of this service.</summary>
    public IReadOnlyList<PeerId> Relays
    {
        get
        {
            lock (_ours)
            {
                return [.. _ours];
            }
        }
    }

    /// <summary>Starts watching reachability and keeping reservations.</summary>
    public void Start()
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(client);
        if (!_lifecycle.TryStart(this))
        {
            return;
        }
        if (_options.MaxReservations < 1)
        {
            throw new InvalidOperationException("AutoRelayOptions.MaxReservations must be at least 1.");
        }
        client.Start();
        _subscriptions.Add(host.Events.Subscribe<LocalReachabilityChanged>(_ => Wake()));
        _subscriptions.Add(host.Events.Subscribe<PeerIdentificationCompleted>(_ => Wake()));
        _subscriptions.Add(host.Events.Subscribe<PeerConnectednessChanged>(_ => Wake()));
        _loop = Task.Run(() => RunAsync(_stopping.Token));
    }

    /// <summary>Stops; the reservations made stay with the relay client (dispose it to give them up).</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_lifecycle.TryDispose(out _))
        {
            return;
        }
        foreach (var subscription in _subscriptions)
        {
            subscription.Dispose();
        }
        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        _stopping.Dispose();
    }

    private void Wake() => Volatile.Read(ref _wake).TrySetResult();

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            Volatile.Write(ref _wake, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            try
            {
                await CheckAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            using var delayEnd = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            await Task.WhenAny(Task.Delay(_options.CheckInterval, host.TimeProvider, delayEnd.Token), Volatile.Read(ref _wake).Task).ConfigureAwait(false);
            await delayEnd.CancelAsync().ConfigureAwait(false);
        }
    }

    private async Task CheckAsync(CancellationToken cancellationToken)
    {
        var held = client.Reservations.Select(r => r.Relay).ToHashSet();
        lock (_ours)
        {
            _ours.IntersectWith(held); // the client dropped those whose relay went away
        }
        bool wanted = !_options.OnlyWhenPrivate || host.Reachability == Reachability.Private;
        if (!wanted)
        {
            foreach (var relay in Relays)
            {
                client.Release(relay);
                RelayLog.AutoRelay(_logger, relay, "released: the node is reachable");
                lock (_ours)
                {
                    _ours.Remove(relay);
                }
            }
            return;
        }
        DateTimeOffset now = host.TimeProvider.GetUtcNow();
        foreach (var (relay, address) in Candidates())
        {
            if (held.Count >= _options.MaxReservations)
            {
                return;
            }
            if (held.Contains(relay) || _backoff.TryGetValue(relay, out var until) && until > now)
            {
                continue;
            }
            try
            {
                await client.ReserveAsync(address, cancellationToken).ConfigureAwait(false);
                held.Add(relay);
                lock (_ours)
                {
                    _ours.Add(relay);
                }
                RelayLog.AutoRelay(_logger, relay, "reserved");
            }
            catch (Exception e) when (e is IOException or TimeoutException or ProtocolViolationException or ProtocolNotSupportedException
                or WireFormatException or NotSupportedException or ConnectionGatedException
                || e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                _backoff[relay] = now + _options.FailureBackoff;
                RelayLog.AutoRelay(_logger, relay, "failed: " + e.Message);
            }
        }
    }

    /// <summary>Static relays, then connected peers that serve the hop protocol (at an address we reached them on).</summary>
    private IEnumerable<(PeerId Relay, Multiaddr Address)> Candidates()
    {
        foreach (var address in _options.StaticRelays)
        {
            if (address.GetPeerId() is { } relay && !address.Contains(MultiaddrProtocol.P2pCircuit))
            {
                yield return (relay, address);
            }
        }
        if (!_options.UseConnectedRelays)
        {
            yield break;
        }
        foreach (var connection in host.Connections.Where(c => !c.IsLimited && !c.Closed.IsCompleted))
        {
            if (host.PeerStore.Get(connection.RemotePeer)?.Protocols.Contains(RelayProtocol.HopId) == true)
            {
                yield return (connection.RemotePeer, connection.RemoteAddress.WithPeerId(connection.RemotePeer));
            }
        }
    }
}
