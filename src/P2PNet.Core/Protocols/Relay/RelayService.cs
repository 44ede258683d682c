using System.Net;
using Google.Protobuf;
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
/// The relay side of circuit relay v2 (<c>/libp2p/circuit/relay/0.2.0/hop</c>, libp2p/specs relay/circuit-v2.md):
/// grants reservations and connects peers to reserved peers through itself, within <see cref="RelayServiceOptions"/>.
/// </summary>
/// <remarks>Thread-safe. <see cref="Start"/> serves the hop protocol on the host; <see cref="DisposeAsync"/> stops
/// serving it and resets every open circuit. Each circuit runs inside its hop stream's handler, so the connection
/// that carries it owns it.</remarks>
public sealed class RelayService : IAsyncDisposable
{
    private readonly P2PHost _host;
    private readonly RelayServiceOptions _options;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<PeerId, (DateTimeOffset Expires, IPAddress? Ip)> _reservations = [];
    private readonly Dictionary<PeerId, int> _circuitsPerPeer = [];
    private readonly CancellationTokenSource _stopping = new();
    private IDisposable? _disconnects;
    private int _circuits;
    private ServiceLifecycle _lifecycle;

    /// <summary>Creates the service; nothing is served until <see cref="Start"/>.</summary>
    public RelayService(P2PHost host, RelayServiceOptions? options = null, ILogger<RelayService>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        _host = host;
        _options = options ?? new RelayServiceOptions();
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>Reservations held now (expired ones excluded).</summary>
    public int ReservationCount
    {
        get
        {
            lock (_lock)
            {
                Prune();
                return _reservations.Count;
            }
        }
    }

    /// <summary>Circuits open now.</summary>
    public int CircuitCount => Volatile.Read(ref _circuits);

    /// <summary>Starts serving the hop protocol on the host.</summary>
    public void Start()
    {
        if (!_lifecycle.TryStart(this))
        {
            return;
        }
        // A reservation lasts while the reserving peer stays connected (the relay reaches it over that connection).
        _disconnects = _host.Events.Subscribe<PeerConnectednessChanged>(e =>
        {
            if (e.Connectedness == Connectedness.NotConnected)
            {
                lock (_lock)
                {
                    if (_reservations.Remove(e.Peer))
                    {
                        _host.ProtectPeer(e.Peer, protect: false);
                    }
                }
            }
        });
        _host.SetStreamHandler(RelayProtocol.HopId, HandleHopAsync);
    }

    /// <summary>Stops serving the hop protocol and resets every open circuit.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_lifecycle.TryDispose(out _))
        {
            return;
        }
        _host.RemoveStreamHandler(RelayProtocol.HopId);
        _disconnects?.Dispose();
        await _stopping.CancelAsync().ConfigureAwait(false);
        lock (_lock)
        {
            foreach (var peer in _reservations.Keys)
            {
                _host.ProtectPeer(peer, protect: false);
            }
            _reservations.Clear();
        }
        _stopping.Dispose();
    }

    private async Task HandleHopAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        PbHopMessage? request;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(linked.Token))
        {
            timeout.CancelAfter(_options.RequestTimeout);
            try
            {
                request = await RelayMessages.ReadHopAsync(stream, _options.MaxMessageSize, timeout.Token).ConfigureAwait(false);
            }
            catch (WireFormatException e)
            {
                RelayLog.Malformed(_logger, stream.RemotePeer, e.Message);
                await RefuseAsync(stream, "request", PbStatus.MalformedMessage, linked.Token).ConfigureAwait(false);
                return;
            }
        }
        if (request is null)
        {
            return;
        }
        switch (request.Type)
        {
            case PbHopMessage.Types.Type.Reserve:
                await ReserveAsync(stream, linked.Token).ConfigureAwait(false);
                break;
            case PbHopMessage.Types.Type.Connect:
                await ConnectAsync(stream, request, linked.Token).ConfigureAwait(false);
                break;
            default:
                await RefuseAsync(stream, request.Type.ToString(), PbStatus.UnexpectedMessage, linked.Token).ConfigureAwait(false);
                break;
        }
    }

    private async Task ReserveAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        PeerId peer = stream.RemotePeer;
        if (stream.Connection.IsLimited)
        {
            // A reservation over a relayed connection would chain relays: the spec leaves it to the relay; we refuse.
            await RefuseAsync(stream, "reservation", PbStatus.PermissionDenied, cancellationToken).ConfigureAwait(false);
            return;
        }
        IPAddress? ip = stream.Connection.RemoteAddress.TryGetTcpEndPoint(out var endPoint) ? endPoint.Address : null;
        DateTimeOffset expires = _host.TimeProvider.GetUtcNow() + _options.ReservationTtl;
        PbStatus verdict;
        lock (_lock)
        {
            Prune();
            bool renewal = _reservations.ContainsKey(peer);
            if (_options.MaxReservationsPerPeer < 1)
            {
                verdict = PbStatus.ReservationRefused;
            }
            else if (!renewal && _reservations.Count >= _options.MaxReservations)
            {
                verdict = PbStatus.ResourceLimitExceeded;
            }
            else if (!renewal && ip is not null && _reservations.Values.Count(r => ip.Equals(r.Ip)) >= _options.MaxReservationsPerIp)
            {
                verdict = PbStatus.ResourceLimitExceeded;
            }
            else
            {
                verdict = PbStatus.Ok;
                _reservations[peer] = (expires, ip);
                if (!renewal)
                {
                    _host.ProtectPeer(peer, protect: true); // the reservation lasts while this connection does
                }
            }
        }
        if (verdict != PbStatus.Ok)
        {
            await RefuseAsync(stream, "reservation", verdict, cancellationToken).ConfigureAwait(false);
            return;
        }
        var reservation = new PbReservation { Expire = (ulong)expires.ToUnixTimeSeconds() };
        foreach (var address in _host.ListenAddresses.Where(a => !a.Contains(MultiaddrProtocol.P2pCircuit)))
        {
            reservation.Addrs.Add(ByteString.CopyFrom(address.ToBytes()));
        }
        var answer = RelayMessages.HopStatus(PbStatus.Ok);
        answer.Reservation = reservation;
        answer.Limit = RelayMessages.Limit(_options.CircuitDuration, _options.CircuitDataLimit);
        await RelayMessages.WriteAsync(stream, answer, cancellationToken).ConfigureAwait(false);
        await stream.CompleteWritesAsync(cancellationToken).ConfigureAwait(false);
        RelayLog.Reserved(_logger, peer, expires);
    }

    private async Task ConnectAsync(P2PStream stream, PbHopMessage request, CancellationToken cancellationToken)
    {
        PeerId source = stream.RemotePeer;
        if (stream.Connection.IsLimited)
        {
            await RefuseAsync(stream, "connection", PbStatus.PermissionDenied, cancellationToken).ConfigureAwait(false);
            return;
        }
        PeerId destination;
        try
        {
            destination = RelayMessages.PeerOf(request.Peer, "connect");
        }
        catch (WireFormatException e)
        {
            RelayLog.Malformed(_logger, source, e.Message);
            await RefuseAsync(stream, "connection", PbStatus.MalformedMessage, cancellationToken).ConfigureAwait(false);
            return;
        }
        PbStatus verdict = TakeCircuit(source, destination);
        if (verdict != PbStatus.Ok)
        {
            await RefuseAsync(stream, "connection", verdict, cancellationToken).ConfigureAwait(false);
            return;
        }
        try
        {
            P2PStream? stop = await OpenStopAsync(source, destination, stream, cancellationToken).ConfigureAwait(false);
            if (stop is null)
            {
                return;
            }
            await using (stop.ConfigureAwait(false))
            {
                var answer = RelayMessages.HopStatus(PbStatus.Ok);
                answer.Limit = RelayMessages.Limit(_options.CircuitDuration, _options.CircuitDataLimit);
                await RelayMessages.WriteAsync(stream, answer, cancellationToken).ConfigureAwait(false);
                RelayLog.CircuitOpened(_logger, source, destination);
                string reason = await CircuitSplice.RunAsync(stream, stop, _options.CircuitDuration, _options.CircuitDataLimit,
                    _host.TimeProvider, cancellationToken).ConfigureAwait(false);
                RelayLog.CircuitEnded(_logger, source, destination, reason);
            }
        }
        finally
        {
            ReleaseCircuit(source, destination);
        }
    }

    /// <summary>Asks <paramref name="destination"/> to accept the circuit; answers the source and returns null on failure.</summary>
    private async Task<P2PStream?> OpenStopAsync(PeerId source, PeerId destination, P2PStream hop, CancellationToken cancellationToken)
    {
        P2PConnection? connection = _host.GetConnections(destination).LastOrDefault(c => !c.IsLimited && !c.Closed.IsCompleted);
        if (connection is null)
        {
            await RefuseAsync(hop, "connection", PbStatus.ConnectionFailed, cancellationToken).ConfigureAwait(false);
            return null;
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.RequestTimeout);
        P2PStream? stop = null;
        PbStatus status;
        try
        {
            stop = await connection.OpenStreamAsync(RelayProtocol.StopId, timeout.Token).ConfigureAwait(false);
            var request = new PbStopMessage
            {
                Type = PbStopMessage.Types.Type.Connect,
                Peer = new PbRelayPeer { Id = ByteString.CopyFrom(source.Bytes) },
                Limit = RelayMessages.Limit(_options.CircuitDuration, _options.CircuitDataLimit),
            };
            await RelayMessages.WriteAsync(stop, request, timeout.Token).ConfigureAwait(false);
            PbStopMessage? answer = await RelayMessages.ReadStopAsync(stop, _options.MaxMessageSize, timeout.Token).ConfigureAwait(false);
            status = answer is { Type: PbStopMessage.Types.Type.Status, HasStatus: true } ? answer.Status : PbStatus.ConnectionFailed;
        }
        catch (Exception e) when (e is IOException or WireFormatException or TimeoutException or OperationCanceledException
            or ProtocolNotSupportedException or ProtocolViolationException)
        {
            cancellationToken.ThrowIfCancellationRequested();
            status = PbStatus.ConnectionFailed;
        }
        if (status == PbStatus.Ok)
        {
            return stop;
        }
        if (stop is not null)
        {
            stop.Abort();
            await stop.DisposeAsync().ConfigureAwait(false);
        }
        // The destination's own refusal (e.g. it accepts no relayed connections) is passed on; anything else is a failure to connect.
        await RefuseAsync(hop, "connection", status == PbStatus.PermissionDenied ? status : PbStatus.ConnectionFailed, cancellationToken).ConfigureAwait(false);
        return null;
    }

    private PbStatus TakeCircuit(PeerId source, PeerId destination)
    {
        lock (_lock)
        {
            Prune();
            if (!_reservations.ContainsKey(destination))
            {
                return PbStatus.NoReservation;
            }
            if (_circuits >= _options.MaxCircuits
                || _circuitsPerPeer.GetValueOrDefault(source) >= _options.MaxCircuitsPerPeer
                || _circuitsPerPeer.GetValueOrDefault(destination) >= _options.MaxCircuitsPerPeer)
            {
                return PbStatus.ResourceLimitExceeded;
            }
            _circuits++;
            _circuitsPerPeer[source] = _circuitsPerPeer.GetValueOrDefault(source) + 1;
            _circuitsPerPeer[destination] = _circuitsPerPeer.GetValueOrDefault(destination) + 1;
            return PbStatus.Ok;
        }
    }

    private void ReleaseCircuit(PeerId source, PeerId destination)
    {
        lock (_lock)
        {
            _circuits--;
            foreach (var peer in (ReadOnlySpan<PeerId>)[source, destination])
            {
                if (--_circuitsPerPeer[peer] == 0)
                {
                    _circuitsPerPeer.Remove(peer);
                }
            }
        }
    }

    /// <summary>Drops expired reservations; the caller holds the lock.</summary>
    private void Prune()
    {
        DateTimeOffset now = _host.TimeProvider.GetUtcNow();
        foreach (var (peer, reservation) in _reservations.ToArray())
        {
            if (reservation.Expires <= now)
            {
                _reservations.Remove(peer);
                _host.ProtectPeer(peer, protect: false);
            }
        }
    }

    private async Task RefuseAsync(P2PStream stream, string request, PbStatus status, CancellationToken cancellationToken)
    {
        RelayLog.Refused(_logger, request, stream.RemotePeer, status.ToString());
        await RelayMessages.WriteAsync(stream, RelayMessages.HopStatus(status), cancellationToken).ConfigureAwait(false);
        await stream.CompleteWritesAsync(cancellationToken).ConfigureAwait(false);
    }
}
