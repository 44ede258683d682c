using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Host;
using P2PNet.Host.Internal;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Protocols.Relay.Internal;
using P2PNet.Protocols.Relay.Protos;

namespace P2PNet.Protocols.Relay;

/// <summary>
/// The client side of circuit relay v2 (libp2p/specs relay/circuit-v2.md): reserves slots on relays (and renews them
/// before they expire), adds the resulting <c>/p2p-circuit</c> addresses to the host's listen addresses, and accepts
/// relayed connections on <c>/libp2p/circuit/relay/0.2.0/stop</c>, marked <see cref="P2PConnection.IsLimited"/>.
/// Dialing a circuit address needs no client: <see cref="P2PHost.DialAsync(Multiaddr, CancellationToken)"/> does it.
/// </summary>
/// <remarks>Thread-safe. <see cref="Start"/> serves the stop protocol and starts the renewal loop;
/// <see cref="DisposeAsync"/> stops both and withdraws the circuit addresses.</remarks>
public sealed class RelayClient : IAsyncDisposable
{
    private readonly P2PHost _host;
    private readonly RelayClientOptions _options;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<PeerId, Entry> _reservations = [];
    private readonly CancellationTokenSource _stopping = new();
    private TaskCompletionSource? _wake;
    private IDisposable? _disconnects;
    private Task? _renewLoop;
    private ServiceLifecycle _lifecycle;

    /// <summary>Creates the client; nothing is served until <see cref="Start"/>.</summary>
    public RelayClient(P2PHost host, RelayClientOptions? options = null, ILogger<RelayClient>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        _host = host;
        _options = options ?? new RelayClientOptions();
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>The reservations held now.</summary>
    public IReadOnlyList<RelayReservation> Reservations
    {
        get
        {
            lock (_lock)
            {
                return [.. _reservations.Values.Select(e => e.Reservation)];
            }
        }
    }

    /// <summary>Serves the stop protocol (accepting relayed connections) and starts renewing reservations.</summary>
    public void Start()
    {
        if (!_lifecycle.TryStart(this))
        {
            return;
        }
        _host.SetStreamHandler(RelayProtocol.StopId, HandleStopAsync);
        // The relay drops a reservation when our connection to it closes: renew at once, over a new connection.
        _disconnects = _host.Events.Subscribe<PeerConnectednessChanged>(e =>
        {
            if (e.Connectedness != Connectedness.NotConnected)
            {
                return;
            }
            bool held;
            lock (_lock)
            {
                held = _reservations.TryGetValue(e.Peer, out var entry);
                if (held)
                {
                    entry!.Disconnected = true;
                }
            }
            if (held)
            {
                Wake();
            }
        });
        _renewLoop = RenewLoopAsync();
    }

    /// <summary>
    /// Reserves a slot on the relay at <paramref name="relayAddress"/> (which ends in <c>/p2p/&lt;relay id&gt;</c>), or
    /// renews ours; the reservation's circuit addresses join the host's listen addresses. Renewed before it expires
    /// until <see cref="DisposeAsync"/>.
    /// </summary>
    /// <exception cref="RelayRefusedException">The relay refused (e.g. <see cref="RelayStatus.ResourceLimitExceeded"/>).</exception>
    /// <exception cref="IOException">The relay cannot be reached or does not speak circuit relay v2.</exception>
    public async Task<RelayReservation> ReserveAsync(Multiaddr relayAddress, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(relayAddress);
        ObjectDisposedException.ThrowIf(_lifecycle.IsDisposed, this);
        if (relayAddress.GetPeerId() is null || relayAddress.Contains(MultiaddrProtocol.P2pCircuit))
        {
            throw new ArgumentException($"The relay address {relayAddress} must be a direct address ending in /p2p/<relay id>.", nameof(relayAddress));
        }
        Start();
        var reservation = await ReserveCoreAsync(relayAddress, cancellationToken).ConfigureAwait(false);
        Store(relayAddress, reservation);
        return reservation;
    }

    /// <summary>Gives up the reservation on <paramref name="relay"/> (no more renewals; its circuit addresses are
    /// withdrawn; the relay forgets it when it expires or our connection closes). False when none was held.</summary>
    public bool Release(PeerId relay)
    {
        ArgumentNullException.ThrowIfNull(relay);
        lock (_lock)
        {
            if (!_reservations.ContainsKey(relay))
            {
                return false;
            }
        }
        Drop(relay);
        return true;
    }

    /// <summary>Stops accepting relayed connections and renewing, and withdraws the circuit addresses (open relayed
    /// connections stay).</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_lifecycle.TryDispose(out bool wasStarted))
        {
            return;
        }
        if (wasStarted)
        {
            _host.RemoveStreamHandler(RelayProtocol.StopId);
        }
        _disconnects?.Dispose();
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_renewLoop is not null)
        {
            await _renewLoop.ConfigureAwait(false);
        }
        Multiaddr[] withdrawn;
        lock (_lock)
        {
            withdrawn = [.. _reservations.Values.SelectMany(e => e.Reservation.CircuitAddresses)];
            foreach (var relay in _reservations.Keys)
            {
                _host.ProtectPeer(relay, protect: false);
            }
            _reservations.Clear();
        }
        _host.UpdateCircuitAddresses(withdrawn, removed: true);
        _stopping.Dispose();
    }

    private async Task<RelayReservation> ReserveCoreAsync(Multiaddr relayAddress, CancellationToken cancellationToken)
    {
        PeerId relay = relayAddress.GetPeerId()!;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        timeout.CancelAfter(_options.RequestTimeout);
        P2PConnection connection = await _host.DialAsync(relayAddress, timeout.Token).ConfigureAwait(false);
        P2PStream stream = await connection.OpenStreamAsync(RelayProtocol.HopId, timeout.Token).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            await RelayMessages.WriteAsync(stream, new PbHopMessage { Type = PbHopMessage.Types.Type.Reserve }, timeout.Token).ConfigureAwait(false);
            PbHopMessage answer = await RelayMessages.ReadHopAsync(stream, _options.MaxMessageSize, timeout.Token).ConfigureAwait(false)
                ?? throw new IOException($"The relay {relay} closed the stream without answering the reservation.");
            if (answer.Type != PbHopMessage.Types.Type.Status || !answer.HasStatus)
            {
                throw new ProtocolViolationException($"The relay {relay} answered a reservation with {answer.Type} instead of a status.");
            }
            if (answer.Status != PbStatus.Ok)
            {
                throw new RelayRefusedException((RelayStatus)answer.Status, $"The relay {relay} refused the reservation: {(RelayStatus)answer.Status}.");
            }
            if (answer.Reservation is not { HasExpire: true } granted)
            {
                throw new ProtocolViolationException($"The relay {relay} accepted the reservation but sent no expiry.");
            }
            DateTimeOffset expires = DateTimeOffset.FromUnixTimeSeconds((long)Math.Min(granted.Expire, (ulong)DateTimeOffset.MaxValue.ToUnixTimeSeconds()));
            var circuits = RelayMessages.Addresses(granted.Addrs)
                .Where(a => !a.Contains(MultiaddrProtocol.P2pCircuit) && (a.GetPeerId() is null || relay.Equals(a.GetPeerId())))
                .Select(a => a.WithPeerId(relay))
                .DefaultIfEmpty(relayAddress)
                .Select(a => a.Encapsulate("/p2p-circuit").WithPeerId(_host.PeerId))
                .Distinct()
                .ToArray();
            TimeSpan? duration = answer.Limit is { HasDuration: true } l ? TimeSpan.FromSeconds(l.Duration) : null;
            long? data = answer.Limit is { HasData: true } d ? (long)Math.Min(d.Data, long.MaxValue) : null;
            RelayLog.ClientReserved(_logger, relay, expires);
            return new RelayReservation(relay, expires, circuits, duration, data);
        }
    }

    private void Store(Multiaddr relayAddress, RelayReservation reservation)
    {
        Multiaddr[] old;
        lock (_lock)
        {
            old = _reservations.TryGetValue(reservation.Relay, out var previous) ? [.. previous.Reservation.CircuitAddresses] : [];
            if (previous is null)
            {
                _host.ProtectPeer(reservation.Relay, protect: true); // the reservation lasts while this connection does
            }
            _reservations[reservation.Relay] = new Entry(relayAddress, reservation, _host.TimeProvider.GetUtcNow());
        }
        Wake();
        _host.UpdateCircuitAddresses([.. old.Except(reservation.CircuitAddresses)], removed: true);
        _host.UpdateCircuitAddresses(reservation.CircuitAddresses, removed: false);
    }

    private void Drop(PeerId relay)
    {
        Entry? entry;
        lock (_lock)
        {
            if (!_reservations.Remove(relay, out entry))
            {
                return;
            }
            _host.ProtectPeer(relay, protect: false);
        }
        RelayLog.ReservationLost(_logger, relay);
        _host.UpdateCircuitAddresses(entry.Reservation.CircuitAddresses, removed: true);
    }

    /// <summary>Ends the renewal loop's wait, so it looks at the reservations again. Never runs the loop on the caller's
    /// thread (the caller may hold a lock, or be a clock firing timers).</summary>
    private void Wake()
    {
        TaskCompletionSource? wake;
        lock (_lock)
        {
            wake = _wake;
        }
        wake?.TrySetResult();
    }

    /// <summary>Renews each reservation before it expires (and at once when the relay's connection is lost).</summary>
    private async Task RenewLoopAsync()
    {
        await Task.Yield();
        TimeProvider clock = _host.TimeProvider;
        while (!_stopping.IsCancellationRequested)
        {
            DateTimeOffset now = clock.GetUtcNow();
            Entry[] due;
            TimeSpan wait;
            var wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_lock)
            {
                due = [.. _reservations.Values.Where(e => e.Disconnected || e.NextAttempt(_options) <= now)];
                wait = due.Length > 0 ? TimeSpan.Zero : _reservations.Values.Select(e => e.NextAttempt(_options) - now).DefaultIfEmpty(TimeSpan.FromHours(1)).Min();
                _wake = due.Length > 0 ? null : wake;
            }
            if (due.Length == 0)
            {
                using var delayEnd = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
                Task delay = Task.Delay(wait, clock, delayEnd.Token);
                await Task.WhenAny(delay, wake.Task).ConfigureAwait(false);
                await delayEnd.CancelAsync().ConfigureAwait(false);
                await Task.Yield(); // off the thread that woke us (a manual clock's Advance, an event publisher)
                continue;
            }
            foreach (var entry in due)
            {
                await RenewAsync(entry).ConfigureAwait(false);
            }
        }
    }

    private async Task RenewAsync(Entry entry)
    {
        PeerId relay = entry.Reservation.Relay;
        try
        {
            Store(entry.Address, await ReserveCoreAsync(entry.Address, _stopping.Token).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is IOException or TimeoutException or OperationCanceledException or ProtocolViolationException
            or ProtocolNotSupportedException or WireFormatException or NotSupportedException)
        {
            RelayLog.RenewFailed(_logger, relay, e.Message);
            if (entry.Disconnected || e is RelayRefusedException || _host.TimeProvider.GetUtcNow() >= entry.Reservation.Expires)
            {
                Drop(relay); // the relay no longer holds it: another relay (AutoRelay) or a new ReserveAsync must take over
            }
            else
            {
                entry.RetryAt = _host.TimeProvider.GetUtcNow() + _options.RetryInterval;
            }
        }
    }

    private async Task HandleStopAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        PeerId relay = stream.RemotePeer;
        PbStopMessage? request;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            timeout.CancelAfter(_options.RequestTimeout);
            try
            {
                request = await RelayMessages.ReadStopAsync(stream, _options.MaxMessageSize, timeout.Token).ConfigureAwait(false);
            }
            catch (WireFormatException e)
            {
                RelayLog.InboundRefused(_logger, relay, relay, e.Message);
                await AnswerAsync(stream, PbStatus.MalformedMessage, cancellationToken).ConfigureAwait(false);
                return;
            }
        }
        if (request is null)
        {
            return;
        }
        if (request.Type != PbStopMessage.Types.Type.Connect)
        {
            await AnswerAsync(stream, PbStatus.UnexpectedMessage, cancellationToken).ConfigureAwait(false);
            return;
        }
        PeerId source;
        try
        {
            source = RelayMessages.PeerOf(request.Peer, "stop");
        }
        catch (WireFormatException e)
        {
            RelayLog.InboundRefused(_logger, relay, relay, e.Message);
            await AnswerAsync(stream, PbStatus.MalformedMessage, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (!_options.AcceptRelayedConnections || stream.Connection.IsLimited)
        {
            RelayLog.InboundRefused(_logger, source, relay, stream.Connection.IsLimited ? "relays do not chain" : "relayed connections are refused");
            await AnswerAsync(stream, PbStatus.PermissionDenied, cancellationToken).ConfigureAwait(false);
            return;
        }
        await RelayMessages.WriteAsync(stream, RelayMessages.StopStatus(PbStatus.Ok), cancellationToken).ConfigureAwait(false);
        Multiaddr viaRelay = stream.Connection.RemoteAddress.WithPeerId(relay).Encapsulate("/p2p-circuit");
        var raw = new RelayedConnection(stream, stream.Connection.LocalAddress, viaRelay);
        P2PConnection connection = await _host.UpgradeAndAddAsync(raw, ConnectionDirection.Inbound, source, limited: true, cancellationToken).ConfigureAwait(false);
        try
        {
            if (!connection.RemotePeer.Equals(source))
            {
                RelayLog.InboundRefused(_logger, connection.RemotePeer, relay, $"the relay announced {source}");
                return;
            }
            // This handler owns the relayed stream: it returns when the relayed connection closes, or the relay's does.
            await connection.Closed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static async Task AnswerAsync(P2PStream stream, PbStatus status, CancellationToken cancellationToken)
    {
        await RelayMessages.WriteAsync(stream, RelayMessages.StopStatus(status), cancellationToken).ConfigureAwait(false);
        await stream.CompleteWritesAsync(cancellationToken).ConfigureAwait(false);
    }

    private sealed class Entry(Multiaddr address, RelayReservation reservation, DateTimeOffset obtained)
    {
        public Multiaddr Address { get; } = address;

        public RelayReservation Reservation { get; } = reservation;

        public volatile bool Disconnected;

        public DateTimeOffset? RetryAt { get; set; }

        /// <summary>When to renew: <see cref="RelayClientOptions.RenewBeforeExpiry"/> before expiry, or at half the
        /// lifetime if that is sooner (short reservations), or the retry after a failure.</summary>
        public DateTimeOffset NextAttempt(RelayClientOptions options)
        {
            if (RetryAt is { } retry)
            {
                return retry;
            }
            TimeSpan lifetime = Reservation.Expires - obtained;
            DateTimeOffset half = obtained + lifetime / 2;
            DateTimeOffset before = Reservation.Expires - options.RenewBeforeExpiry;
            return half < before ? half : before;
        }
    }
}
