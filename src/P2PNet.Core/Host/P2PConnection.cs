using System.Diagnostics;
using Microsoft.Extensions.Logging;
using P2PNet.Crypto;
using P2PNet.Diagnostics;
using P2PNet.Host.Internal;
using P2PNet.Multiformats;
using P2PNet.Multistream;
using P2PNet.Muxing;
using P2PNet.Peers;
using P2PNet.Resources.Internal;
using P2PNet.Transports;
using P2PNet.Upgrade;
using P2PNet.Upgrade.Internal;

namespace P2PNet.Host;

/// <summary>
/// A secured, multiplexed connection to one peer (transport → security protocol → stream muxer; by default TCP or
/// WebSocket → Noise → Yamux). Open streams on it with
/// <see cref="OpenStreamAsync(string, CancellationToken)"/>; inbound streams go to the host's protocol handlers.
/// </summary>
/// <remarks>Thread-safe. <see cref="DisposeAsync"/> closes gracefully (Yamux GoAway) and waits for the
/// connection's loops and stream handlers to finish.</remarks>
public sealed class P2PConnection : IAsyncDisposable
{
    /// <summary>After an abort every loop ends within moments; this only keeps a bug from hanging the close.</summary>
    private static readonly TimeSpan AbortGrace = TimeSpan.FromSeconds(2);

    private static long s_nextId;

    private readonly P2PHost _host;
    private readonly TransportConnection _transport;
    private readonly ISecureConnection _channel;
    private readonly IMuxedSession _session;
    private readonly ConnectionResources? _resources;
    private readonly ILogger _logger;
    private readonly TaskTracker _handlers = new();
    private readonly CancellationTokenSource _closing = new();
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _acceptLoop;
    private int _disposed;
    private long _lastActivity;
    private volatile bool _aborted;
    private CancellationTokenSource? _abortGrace;

    internal P2PConnection(P2PHost host, ConnectionUpgrade upgrade, ConnectionResources? resources, ConnectionDirection direction,
        bool limited, ILogger logger)
    {
        _host = host;
        _transport = upgrade.Transport;
        _channel = upgrade.Secure;
        _session = upgrade.Session;
        _resources = resources;
        PrivateNetworkKey = upgrade.PrivateNetworkKey;
        Muxer = upgrade.Muxer;
        IsLimited = limited;
        _logger = logger;
        Direction = direction;
        Id = Interlocked.Increment(ref s_nextId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        Opened = host.TimeProvider.GetUtcNow();
        _lastActivity = host.TimeProvider.GetTimestamp();
    }

    /// <summary>A short id unique within this process, for logs.</summary>
    public string Id { get; }

    /// <summary>The authenticated peer at the other end.</summary>
    public PeerId RemotePeer => _channel.RemotePeer;

    /// <summary>The remote's identity key, authenticated by the security handshake.</summary>
    public PublicKey RemotePublicKey => _channel.RemotePublicKey;

    /// <summary>Our end's transport address.</summary>
    public Multiaddr LocalAddress => _transport.LocalAddress;

    /// <summary>The remote end's transport address.</summary>
    public Multiaddr RemoteAddress => _transport.RemoteAddress;

    /// <summary>Who dialed.</summary>
    public ConnectionDirection Direction { get; }

    /// <summary>When the connection became ready.</summary>
    public DateTimeOffset Opened { get; }

    /// <summary>The swarm key protecting this connection, or <see langword="null"/> on the public network.</summary>
    public Security.Pnet.SwarmKey? PrivateNetworkKey { get; }

    /// <summary>
    /// Whether the connection is limited in time or data (e.g. relayed through a circuit-relay reservation): only
    /// protocols meant for such connections should use it. <see langword="false"/> for dialled and accepted connections.
    /// </summary>
    public bool IsLimited { get; }

    /// <summary>The stream muxer's protocol id (e.g. <c>/yamux/1.0.0</c>).</summary>
    public string Muxer { get; }

    /// <summary>Bytes received on the underlying transport (protocol overhead included).</summary>
    public long BytesReceived => _transport.BytesReceived;

    /// <summary>Bytes sent on the underlying transport (protocol overhead included).</summary>
    public long BytesSent => _transport.BytesSent;

    /// <summary>Streams open now.</summary>
    public int StreamCount => _session.StreamCount;

    /// <summary>Completes when the connection has closed, for any reason.</summary>
    public Task Closed => _closed.Task;

    internal bool IsClosing => _closing.IsCancellationRequested;

    internal long LastActivity => Volatile.Read(ref _lastActivity);

    /// <summary>The connection's resource budget (given back by the host when the connection closes).</summary>
    internal ConnectionResources? Resources => _resources;

    internal void Start()
    {
        _acceptLoop = AcceptLoopAsync();
        _ = WatchSessionAsync();
    }

    /// <summary>
    /// Opens a stream for <paramref name="protocol"/> optimistically: the proposal is sent and the stream returned
    /// without waiting for the peer's answer, saving a round trip (see "Optimistic negotiation" on <see cref="P2PStream"/>).
    /// </summary>
    /// <remarks>A refusal is not thrown here but by the stream's first read (or a later write,
    /// <see cref="P2PStream.CompleteWritesAsync"/> or <see cref="P2PStream.DisposeAsync"/>), as
    /// <see cref="ProtocolNotSupportedException"/>; the stream is then reset.</remarks>
    /// <exception cref="MuxerClosedException">The connection is closed (by either side, or by the host): dial again.</exception>
    public ValueTask<P2PStream> OpenStreamAsync(string protocol, CancellationToken cancellationToken = default) =>
        OpenStreamAsync([protocol], cancellationToken);

    /// <summary>
    /// Opens a stream and negotiates the first of <paramref name="protocols"/> the peer supports. With one protocol the
    /// stream is opened optimistically, as by <see cref="OpenStreamAsync(string, CancellationToken)"/>; with several, this
    /// waits for the peer's choice.
    /// </summary>
    /// <exception cref="ProtocolNotSupportedException">The peer supports none of several protocols.</exception>
    /// <exception cref="MuxerClosedException">The connection is closed (by either side, or by the host): dial again.</exception>
    public async ValueTask<P2PStream> OpenStreamAsync(IReadOnlyList<string> protocols, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(protocols);
        ArgumentOutOfRangeException.ThrowIfZero(protocols.Count);
        if (_disposed != 0)
        {
            // Usually the peer or the host closed it (a refusal, a revoked key, an idle timeout), not the caller: the
            // muxer's own "closed" error, an IOException like every other way a connection can end.
            throw new MuxerClosedException($"The connection to {RemotePeer} is closed; dial the peer again.");
        }
        Touch();
        MuxedStream muxed = await _session.OpenStreamAsync(cancellationToken).ConfigureAwait(false);
        if (protocols.Count == 1)
        {
            return await OpenOptimisticAsync(muxed, protocols[0], cancellationToken).ConfigureAwait(false);
        }
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _closing.Token);
            timeout.CancelAfter(_host.Options.NegotiationTimeout);
            string protocol;
            using var span = P2PNetTelemetry.Source.StartActivity("p2pnet.stream.negotiate", ActivityKind.Client);
            try
            {
                protocol = await MultistreamSelect.SelectAsync(muxed, protocols, timeout.Token).ConfigureAwait(false);
                span?.SetTag("p2pnet.protocol", protocol).SetTag("p2pnet.direction", "outbound");
            }
            catch (Exception e) when (P2PNetTelemetry.Failed(span, e))
            {
                throw; // never reached: the filter only records the failure on the span
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"{RemotePeer} did not negotiate {string.Join(", ", protocols)} within {_host.Options.NegotiationTimeout.TotalSeconds:0.#} s.");
            }
            AttachProtocol(muxed, protocol); // the protocol's stream budget; throws ResourceLimitExceededException
            _host.Metrics.StreamOpened(protocol, outbound: true);
            return new P2PStream(muxed, protocol, this, s => Touch());
        }
        catch
        {
            muxed.Abort();
            await muxed.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Measures the round trip time to the peer with the muxer's ping (Yamux Ping).</summary>
    public ValueTask<TimeSpan> MeasureRoundTripAsync(CancellationToken cancellationToken = default) => _session.MeasureRoundTripAsync(cancellationToken);

    /// <summary>Counts a negotiated stream in its protocol's budget, when the muxer charges the host's resources.</summary>
    private void AttachProtocol(MuxedStream stream, string protocol) =>
        (_session as IResourceAccountedSession)?.AttachProtocol(stream, protocol);

    /// <summary>
    /// go-multistream's lazy client: header and proposal go out now, the stream is returned at once and the answer is
    /// read in the background by <see cref="OptimisticNegotiation.ReadEchoAsync"/>, which the stream's first read waits for.
    /// </summary>
    private async ValueTask<P2PStream> OpenOptimisticAsync(MuxedStream muxed, string protocol, CancellationToken cancellationToken)
    {
        try
        {
            using (var span = P2PNetTelemetry.Source.StartActivity("p2pnet.stream.negotiate", ActivityKind.Client))
            {
                span?.SetTag("p2pnet.protocol", protocol).SetTag("p2pnet.direction", "outbound").SetTag("p2pnet.optimistic", true);
                await MultistreamSelect.ProposeAsync(muxed.Output, protocol, cancellationToken).ConfigureAwait(false);
            }
            AttachProtocol(muxed, protocol); // the protocol's stream budget; throws ResourceLimitExceededException
        }
        catch
        {
            muxed.Abort();
            await muxed.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        _host.Metrics.StreamOpened(protocol, outbound: true);
        // Owned by the stream: its reads and DisposeAsync await it; it ends by itself within the negotiation timeout.
        Task<Exception?> echo = OptimisticNegotiation.ReadEchoAsync(muxed, protocol, RemotePeer.ToString(), _host.Options.NegotiationTimeout, _closing.Token);
        return new P2PStream(muxed, protocol, this, s => Touch(), echo);
    }

    private async Task AcceptLoopAsync()
    {
        await Task.Yield();
        while (true)
        {
            MuxedStream? muxed;
            try
            {
                // No token: the loop ends when the session does (null), which every close reaches before it awaits
                // this loop. Cancelling the wait on _closing instead raced the session's own end and threw on about
                // every second connection.
                muxed = await _session.AcceptStreamAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is MuxerClosedException or OperationCanceledException or ObjectDisposedException or IOException)
            {
                return;
            }
            if (muxed is null)
            {
                return; // the session ended
            }
            Touch();
            _handlers.Track(HandleInboundAsync(muxed));
        }
    }

    private async Task HandleInboundAsync(MuxedStream muxed)
    {
        string? protocol = null;
        try
        {
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(_closing.Token))
            using (var span = P2PNetTelemetry.Source.StartActivity("p2pnet.stream.negotiate", ActivityKind.Server))
            {
                timeout.CancelAfter(_host.Options.NegotiationTimeout);
                protocol = await MultistreamSelect.ListenAsync(muxed, _host.HasHandler, timeout.Token).ConfigureAwait(false);
                span?.SetTag("p2pnet.protocol", protocol).SetTag("p2pnet.direction", "inbound");
            }
            StreamHandler? handler = _host.GetHandler(protocol);
            if (handler is null)
            {
                muxed.Abort(); // removed while negotiating
                return;
            }
            AttachProtocol(muxed, protocol); // over the protocol's budget: throws, and the stream is reset below
            _host.Metrics.StreamOpened(protocol, outbound: false);
            var stream = new P2PStream(muxed, protocol, this, s => Touch());
            try
            {
                await handler(stream, _closing.Token).ConfigureAwait(false);
            }
            catch
            {
                stream.Abort(); // reset before disposal, which would otherwise half-close and look like success
                throw;
            }
            finally
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
        }
#pragma warning disable CA1031 // one stream's failure must never take the connection or host down
        catch (Exception e)
#pragma warning restore CA1031
        {
            HostLog.InboundStreamFailed(_logger, protocol ?? "(negotiating)", RemotePeer, e.Message);
            // An optimistic initiator's data after a refused proposal reads here as a malformed next proposal: close our
            // side (FIN, on disposal) so that the "na" already sent still reaches it; a reset would discard it unread.
            if (protocol is null && e is WireFormatException or ProtocolViolationException or EndOfStreamException)
            {
                await muxed.DisposeAsync().ConfigureAwait(false);
                return;
            }
            muxed.Abort();
            await muxed.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task WatchSessionAsync()
    {
        try
        {
            await _session.Completion.ConfigureAwait(false);
            HostLog.ConnectionEnded(_logger, Id, RemotePeer, "session closed");
        }
#pragma warning disable CA1031 // the reason is logged; the connection is being torn down either way
        catch (Exception e)
#pragma warning restore CA1031
        {
            HostLog.ConnectionEnded(_logger, Id, RemotePeer, e.Message);
        }
        await DisposeAsync().ConfigureAwait(false);
    }

    private void Touch() => Volatile.Write(ref _lastActivity, _host.TimeProvider.GetTimestamp());

    /// <summary>Closes the connection gracefully, within <see cref="P2PHostOptions.ConnectionCloseTimeout"/>.</summary>
    public ValueTask CloseAsync() => DisposeAsync();

    /// <summary>
    /// Closes the connection: gracefully (Yamux GoAway, queued data flushed, stream handlers ended) for at most
    /// <see cref="P2PHostOptions.ConnectionCloseTimeout"/> (and <see cref="P2PHostOptions.ShutdownTimeout"/>), then by
    /// aborting the transport, so the socket, the slot and the buffers are released even when the peer stopped reading.
    /// </summary>
    /// <remarks>Never throws because of the peer (reset, abort, I/O errors): those are logged.</remarks>
    public ValueTask DisposeAsync() => CloseWithinAsync(CloseTimeout);

    private TimeSpan CloseTimeout => _host.Options.ConnectionCloseTimeout < _host.Options.ShutdownTimeout
        ? _host.Options.ConnectionCloseTimeout
        : _host.Options.ShutdownTimeout;

    /// <summary>Closes gracefully for at most <paramref name="timeout"/>, then aborts the transport; see <see cref="DisposeAsync"/>.</summary>
    /// <remarks>The deadline runs on the system clock: it is a promise to whoever is shutting down (an operator's
    /// SIGINT), not protocol timing, and must hold even when the host's clock is a test's manual one.</remarks>
    internal async ValueTask CloseWithinAsync(TimeSpan timeout)
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            await _closed.Task.ConfigureAwait(false);
            return;
        }
        try
        {
            using var deadline = new CancellationTokenSource(timeout);
            // Each step waits at most until the deadline; a step still running then is made to end by the abort, and
            // is awaited again (bounded by AbortGrace) so that no loop outlives the connection unobserved.
            bool graceful = await CompletesAsync(_session.CloseAsync().AsTask(), deadline.Token).ConfigureAwait(false);
            await _closing.CancelAsync().ConfigureAwait(false);
            graceful &= await CompletesAsync(_handlers.WhenAll(), deadline.Token).ConfigureAwait(false);
            if (!graceful)
            {
                AbortTransport("the graceful close did not finish in time");
            }
            await StepAsync(_session.DisposeAsync().AsTask(), deadline.Token).ConfigureAwait(false);
            if (_acceptLoop is not null)
            {
                await StepAsync(_acceptLoop, deadline.Token).ConfigureAwait(false);
            }
            // The channel flushes its last frames into the transport here; a peer that stopped reading makes this wait.
            await StepAsync(_channel.DisposeAsync().AsTask(), deadline.Token).ConfigureAwait(false);
            await StepAsync(_transport.DisposeAsync().AsTask(), deadline.Token).ConfigureAwait(false);
            if (_aborted)
            {
                await CompletesAsync(_handlers.WhenAll(), AbortGraceToken()).ConfigureAwait(false);
            }
        }
#pragma warning disable CA1031 // closing never fails because of the peer: whatever went wrong is logged
        catch (Exception e)
#pragma warning restore CA1031
        {
            HostLog.GracefulCloseFailed(_logger, Id, e.Message);
            AbortTransport(e.Message);
        }
        finally
        {
            _closing.Dispose();
            _abortGrace?.Dispose();
            _host.OnConnectionClosed(this);
            _closed.TrySetResult();
        }
    }

    private CancellationToken AbortGraceToken() => (_abortGrace ??= new CancellationTokenSource(AbortGrace)).Token;

    /// <summary>Waits for one step of the close until the deadline; if it is not done by then, aborts the transport and
    /// waits for it once more, at most <see cref="AbortGrace"/>.</summary>
    private async Task StepAsync(Task step, CancellationToken deadline)
    {
        if (await CompletesAsync(step, deadline).ConfigureAwait(false))
        {
            return;
        }
        AbortTransport("the graceful close did not finish in time");
        if (!await CompletesAsync(step, AbortGraceToken()).ConfigureAwait(false))
        {
            HostLog.CloseStepAbandoned(_logger, Id, AbortGrace);
        }
    }

    /// <summary>Whether <paramref name="task"/> finished before <paramref name="cancellationToken"/>; its own failure
    /// (the peer reset, the transport failed) counts as finished and is logged.</summary>
    private async Task<bool> CompletesAsync(Task task, CancellationToken cancellationToken)
    {
        try
        {
            await task.WaitAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && !task.IsCompleted)
        {
            return false;
        }
#pragma warning disable CA1031 // a peer-caused failure while closing is only worth a log line
        catch (Exception e)
#pragma warning restore CA1031
        {
            HostLog.GracefulCloseFailed(_logger, Id, e.Message);
            return true;
        }
    }

    /// <summary>Drops the connection at once: pending flushes end, the socket is closed (RST), buffers are released.</summary>
    private void AbortTransport(string reason)
    {
        if (_aborted)
        {
            return;
        }
        _aborted = true;
        HostLog.ConnectionAborted(_logger, Id, RemotePeer, reason);
        try
        {
            _channel.Abort(new IOException($"Connection {Id} to {RemotePeer} was aborted: {reason}."));
            _transport.Abort();
        }
#pragma warning disable CA1031 // aborting is the last resort; a failure to abort a dead socket changes nothing
        catch (Exception e)
#pragma warning restore CA1031
        {
            HostLog.GracefulCloseFailed(_logger, Id, e.Message);
        }
    }

    /// <summary>The peer, direction and remote address.</summary>
    public override string ToString() => $"{Direction} connection {Id} to {RemotePeer} at {RemoteAddress}";
}
