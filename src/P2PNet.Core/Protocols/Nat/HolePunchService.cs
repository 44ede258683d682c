using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Host;
using P2PNet.Host.Internal;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Protocols.Nat.Internal;
using P2PNet.Protocols.Nat.Protos;

namespace P2PNet.Protocols.Nat;

/// <summary>
/// Direct Connection Upgrade through Relay (<c>/libp2p/dcutr</c>, libp2p/specs relay/DCUtR.md): turns a relayed
/// connection into a direct one by a synchronised TCP simultaneous open through both NATs.
/// </summary>
/// <remarks>
/// <para>The peer that received the relayed connection starts: it first dials the other's public addresses directly;
/// failing that it sends CONNECT with its observed addresses, takes the other's CONNECT, measures the round trip,
/// sends SYNC and dials after half of it, while the other dials on receiving SYNC. Up to
/// <see cref="HolePunchOptions.MaxAttempts"/> attempts on the same stream. In the simultaneous open both sides are
/// TCP dialers; the starting side leads the security handshake and the other answers it.</para>
/// <para>The dials leave from the listening port, so the host needs <see cref="Transports.Tcp.TcpTransportOptions.PortReuse"/>
/// (otherwise the NAT maps them to a port no one observed). Raises <see cref="HolePunchSucceeded"/> or
/// <see cref="HolePunchFailed"/>; on success the relayed connection closes after
/// <see cref="HolePunchOptions.RelayedCloseDelay"/>. Thread-safe.</para>
/// </remarks>
public sealed class HolePunchService : IAsyncDisposable
{
    private const int MaxAddresses = 8;

    private readonly P2PHost _host;
    private readonly HolePunchOptions _options;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<PeerId, byte> _inProgress = new();
    // Relayed connections already tried (identify pushes re-announce a peer; one upgrade per connection is enough).
    private readonly ConditionalWeakTable<P2PConnection, object> _tried = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _running = [];
    private IDisposable? _identified;
    private ServiceLifecycle _lifecycle;

    /// <summary>Creates the service; nothing runs until <see cref="Start"/>.</summary>
    public HolePunchService(P2PHost host, HolePunchOptions? options = null, ILogger<HolePunchService>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        _host = host;
        _options = options ?? new HolePunchOptions();
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>Serves <c>/libp2p/dcutr</c> and starts upgrading inbound relayed connections once identified.</summary>
    public void Start()
    {
        if (!_lifecycle.TryStart(this))
        {
            return;
        }
        _host.SetStreamHandler(NatProtocols.HolePunch, HandleAsync);
        _identified = _host.Events.Subscribe<PeerIdentificationCompleted>(e => Consider(e.Peer));
    }

    /// <summary>Stops serving and cancels upgrades in progress (relayed connections stay as they are).</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_lifecycle.TryDispose(out _))
        {
            return;
        }
        _identified?.Dispose();
        _host.RemoveStreamHandler(NatProtocols.HolePunch);
        await _stopping.CancelAsync().ConfigureAwait(false);
        Task[] running;
        lock (_running)
        {
            running = [.. _running];
        }
        await Task.WhenAll(running).ConfigureAwait(false);
        _stopping.Dispose();
    }

    /// <summary>Upgrades the relayed connection to <paramref name="peer"/> now (we must be the side it reached);
    /// returns the direct connection, or null when no attempt succeeded.</summary>
    public async Task<P2PConnection?> UpgradeAsync(PeerId peer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(peer);
        var relayed = _host.GetConnections(peer).LastOrDefault(c => c.IsLimited && !c.IsClosing)
            ?? throw new InvalidOperationException($"No relayed connection to {peer} is open.");
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        return await InitiateAsync(relayed, linked.Token).ConfigureAwait(false);
    }

    /// <summary>After identify: an inbound relayed connection without a direct one is ours to upgrade.</summary>
    private void Consider(PeerId peer)
    {
        var connections = _host.GetConnections(peer);
        if (connections.Any(c => !c.IsLimited && !c.IsClosing)
            || connections.LastOrDefault(c => c.IsLimited && !c.IsClosing && c.Direction == ConnectionDirection.Inbound) is not { } relayed
            || !_tried.TryAdd(relayed, peer) || !_inProgress.TryAdd(peer, 0))
        {
            return;
        }
        var task = Task.Run(async () =>
        {
            try
            {
                await InitiateAsync(relayed, _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
            }
#pragma warning disable CA1031 // a background upgrade must never fault: the relayed connection simply stays
            catch (Exception e)
#pragma warning restore CA1031
            {
                Failed(peer, e.Message);
            }
            finally
            {
                _inProgress.TryRemove(peer, out _);
            }
        });
        lock (_running)
        {
            _running.RemoveAll(t => t.IsCompleted);
            _running.Add(task);
        }
    }

    private async Task<P2PConnection?> InitiateAsync(P2PConnection relayed, CancellationToken cancellationToken)
    {
        PeerId peer = relayed.RemotePeer;
        long started = Stopwatch.GetTimestamp();
        // A peer with public addresses may simply be dialable: try that first, without synchronisation.
        var published = (_host.PeerStore.Get(peer)?.Addresses ?? [])
            .Where(a => NatMessages.IsDirectTcp(a, out var e) && NatMessages.IsPublic(e.Address)).Take(MaxAddresses).ToArray();
        if (published.Length > 0 && await DialAnyAsync(published, peer, ConnectionDirection.Outbound, cancellationToken).ConfigureAwait(false) is { } direct)
        {
            return Succeeded(relayed, direct, started, attempt: 0, closeRelayed: true);
        }
        if (_host.PeerStore.Get(peer)?.Protocols is { Count: > 0 } protocols && !protocols.Contains(NatProtocols.HolePunch))
        {
            return Failed(peer, $"the peer does not speak {NatProtocols.HolePunch}");
        }
        if (OurAddresses().Length == 0)
        {
            return Failed(peer, "no observed address of ours to offer");
        }
        P2PStream stream;
        try
        {
            stream = await relayed.OpenStreamAsync(NatProtocols.HolePunch, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (IsPeerFailure(e, cancellationToken))
        {
            return Failed(peer, $"cannot open {NatProtocols.HolePunch}: {e.Message}");
        }
        try
        {
            for (int attempt = 1; attempt <= _options.MaxAttempts; attempt++)
            {
                var ours = OurAddresses();
                if (ours.Length == 0)
                {
                    return Failed(peer, "no observed address of ours to offer");
                }
                try
                {
                    long sent = Stopwatch.GetTimestamp();
                    await NatMessages.WriteAsync(stream, Connect(ours), cancellationToken).ConfigureAwait(false);
                    var answer = await ReadAsync(stream, PbHolePunch.Types.Type.Connect, cancellationToken).ConfigureAwait(false);
                    TimeSpan rtt = Stopwatch.GetElapsedTime(sent);
                    var theirs = TheirAddresses(answer);
                    if (theirs.Length == 0)
                    {
                        return Failed(peer, "the peer offered no direct address");
                    }
                    await NatMessages.WriteAsync(stream, new PbHolePunch { Type = PbHolePunch.Types.Type.Sync }, cancellationToken).ConfigureAwait(false);
                    await Task.Delay(rtt / 2, cancellationToken).ConfigureAwait(false);
                    if (await DialAnyAsync(theirs, peer, ConnectionDirection.Outbound, cancellationToken).ConfigureAwait(false) is { } punched)
                    {
                        return Succeeded(relayed, punched, started, attempt, closeRelayed: true);
                    }
                    NatLog.HolePunch(_logger, peer, $"attempt {attempt} found no direct path");
                }
                catch (Exception e) when (IsPeerFailure(e, cancellationToken))
                {
                    return Failed(peer, $"attempt {attempt}: {e.Message}");
                }
            }
        }
        finally
        {
            try
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (IsPeerFailure(e, CancellationToken.None))
            {
                // A stream opened optimistically reports the peer's refusal only now: nothing more to do with it.
            }
        }
        return Failed(peer, $"no direct connection after {_options.MaxAttempts} attempts");
    }

    /// <summary>The side that dialed through the relay: answers CONNECT, dials on SYNC; again for each retry.</summary>
    private async Task HandleAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        PeerId peer = stream.RemotePeer;
        if (!stream.Connection.IsLimited)
        {
            stream.Abort(); // a direct connection needs no upgrade
            return;
        }
        long started = Stopwatch.GetTimestamp();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        var ct = linked.Token;
        try
        {
            for (int attempt = 1; attempt <= _options.MaxAttempts; attempt++)
            {
                PbHolePunch? connect;
                using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct))
                {
                    timeout.CancelAfter(_options.MessageTimeout);
                    connect = await NatMessages.ReadAsync(stream, PbHolePunch.Parser, timeout.Token).ConfigureAwait(false);
                }
                if (connect is null)
                {
                    return; // the other side gave up
                }
                if (!connect.HasType || connect.Type != PbHolePunch.Types.Type.Connect)
                {
                    throw new WireFormatException($"Expected CONNECT, got {(connect.HasType ? connect.Type.ToString() : "no type")}.");
                }
                var theirs = TheirAddresses(connect);
                await NatMessages.WriteAsync(stream, Connect(OurAddresses()), ct).ConfigureAwait(false);
                await ReadAsync(stream, PbHolePunch.Types.Type.Sync, ct).ConfigureAwait(false);
                if (theirs.Length > 0
                    && await DialAnyAsync(theirs, peer, ConnectionDirection.Inbound, ct).ConfigureAwait(false) is { } punched)
                {
                    Succeeded(stream.Connection, punched, started, attempt, closeRelayed: false);
                    return;
                }
            }
        }
        catch (WireFormatException e)
        {
            NatLog.Malformed(_logger, peer, e.Message);
            stream.Abort();
        }
        catch (Exception e) when (IsPeerFailure(e, ct))
        {
            NatLog.HolePunch(_logger, peer, e.Message);
        }
    }

    private async Task<PbHolePunch> ReadAsync(P2PStream stream, PbHolePunch.Types.Type expected, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.MessageTimeout);
        var message = await NatMessages.ReadAsync(stream, PbHolePunch.Parser, timeout.Token).ConfigureAwait(false)
            ?? throw new IOException($"The peer closed the hole-punch stream before {expected}.");
        if (!message.HasType || message.Type != expected)
        {
            throw new WireFormatException($"Expected {expected}, got {(message.HasType ? message.Type.ToString() : "no type")}.");
        }
        return message;
    }

    private static PbHolePunch Connect(IEnumerable<Multiaddr> addresses)
    {
        var message = new PbHolePunch { Type = PbHolePunch.Types.Type.Connect };
        message.ObsAddrs.AddRange(addresses.Select(a => ByteString.CopyFrom(a.ToBytes())));
        return message;
    }

    /// <summary>What we offer: addresses enough peers observed, else every observed one, then public listen addresses.</summary>
    private Multiaddr[] OurAddresses()
    {
        var observed = _host.ObservedAddresses.Count > 0 ? _host.ObservedAddresses : _host.AllObservedAddresses;
        return [.. observed.Concat(_host.ListenAddresses.Select(a => a.WithoutPeerId())
                .Where(a => NatMessages.IsDirectTcp(a, out var e) && NatMessages.IsPublic(e.Address)))
            .Where(a => NatMessages.IsDirectTcp(a, out _)).Distinct().Take(MaxAddresses)];
    }

    private static Multiaddr[] TheirAddresses(PbHolePunch message) =>
        [.. NatMessages.Addresses(message.ObsAddrs, MaxAddresses)
            .Where(a => a is not null && !a.Contains(MultiaddrProtocol.P2pCircuit) && NatMessages.IsDirectTcp(a, out _))
            .Select(a => a!.WithoutPeerId()).Distinct()];

    /// <summary>Dials every address at once in <paramref name="role"/>; the first connection wins, later ones close.</summary>
    private async Task<P2PConnection?> DialAnyAsync(IReadOnlyList<Multiaddr> addresses, PeerId peer, ConnectionDirection role,
        CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.DialTimeout);
        var dials = addresses.Select(a => _host.DialDirectAsync(a, peer, role, reusePort: true, timeout.Token)).ToList();
        P2PConnection? winner = null;
        while (dials.Count > 0)
        {
            var done = await Task.WhenAny(dials).ConfigureAwait(false);
            dials.Remove(done);
            if (done.IsCompletedSuccessfully)
            {
                if (winner is null)
                {
                    winner = done.Result;
                    await timeout.CancelAsync().ConfigureAwait(false);
                }
                else
                {
                    await done.Result.DisposeAsync().ConfigureAwait(false);
                }
            }
            else if (done.Exception is { } failed)
            {
                NatLog.HolePunch(_logger, peer, $"direct dial failed: {failed.InnerException?.Message}");
            }
        }
        cancellationToken.ThrowIfCancellationRequested();
        return winner;
    }

    private P2PConnection Succeeded(P2PConnection relayed, P2PConnection direct, long started, int attempt, bool closeRelayed)
    {
        NatLog.HolePunch(_logger, direct.RemotePeer, $"direct at {direct.RemoteAddress} (attempt {attempt})");
        _host.Events.Publish(new HolePunchSucceeded(direct.RemotePeer, direct.RemoteAddress, Stopwatch.GetElapsedTime(started), attempt));
        if (closeRelayed)
        {
            _ = CloseLaterAsync(relayed);
        }
        return direct;
    }

    private async Task CloseLaterAsync(P2PConnection relayed)
    {
        try
        {
            await Task.Delay(_options.RelayedCloseDelay, _host.TimeProvider, _stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        await relayed.DisposeAsync().ConfigureAwait(false);
    }

    private P2PConnection? Failed(PeerId peer, string reason)
    {
        NatLog.HolePunch(_logger, peer, reason);
        _host.Events.Publish(new HolePunchFailed(peer, reason));
        return null;
    }

    private static bool IsPeerFailure(Exception e, CancellationToken cancellationToken) =>
        e is IOException or TimeoutException or WireFormatException or ProtocolNotSupportedException or ProtocolViolationException
            or Muxing.MuxerClosedException or ConnectionGatedException or ObjectDisposedException
        || e is OperationCanceledException && !cancellationToken.IsCancellationRequested;
}
