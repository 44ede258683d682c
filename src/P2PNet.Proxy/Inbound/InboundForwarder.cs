using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Host.Internal;
using P2PNet.Proxy.Inbound.Internal;
using P2PNet.Proxy.Tunnels.Internal;
using P2PNet.Transports;
using P2PNet.Vpn.NetStack;

namespace P2PNet.Proxy.Inbound;

/// <summary>
/// The inbound proxy's TCP forwarding (issue 18): listens on a public TCP endpoint and carries each connection to a
/// target inside a VPN through a user-space TCP/IP stack (<see cref="IPStack"/>, for instance on
/// <see cref="Vpn.UserSpacePacketDevice.ApplicationEnd"/>), so a VPN member exposes a service without a TUN device or root.
/// </summary>
/// <remarks>
/// <para>Each accepted connection opens <see cref="IPStack.ConnectTcpAsync"/> to the target and copies both ways. A FIN
/// from either side is passed on as a FIN while the other direction still flows; a reset of either side (or the idle
/// timeout, or disposal) resets the other. At most <see cref="InboundForwarderOptions.MaxConnections"/> are open at once;
/// a connection over it is reset at once and counted.</para>
/// <para>Thread-safe. <see cref="StartAsync"/> binds; <see cref="DisposeAsync"/> closes the listener and resets every
/// forwarded connection. The stack is owned by the caller and must outlive the forwarder.</para>
/// </remarks>
public sealed class InboundForwarder : IAsyncDisposable
{
    private readonly IPStack _stack;
    private readonly IPEndPoint _listen;
    private readonly IPEndPoint _target;
    private readonly InboundForwarderOptions _options;
    private readonly ILogger _logger;
    private readonly IdleSweeper _idle;
    private readonly TaskTracker _tasks = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly InboundCounters _counters = new();
    private readonly ConcurrentDictionary<InboundConnection, byte> _open = new();
    private readonly TimeProvider _time;
    private readonly SourceLimiter? _sources;
    private readonly BandwidthMeter[] _meters;
    private int _active;
    private Socket? _listener;
    private Task? _acceptLoop;
    private bool _disposed;

    /// <summary>Creates the forwarder; nothing listens until <see cref="StartAsync"/>.</summary>
    /// <param name="stack">The user-space stack that reaches the VPN (started; owned by the caller).</param>
    /// <param name="listenEndPoint">The public endpoint to accept connections on (port 0 picks one).</param>
    /// <param name="target">The service inside the VPN: an IPv4 address the stack reaches, and a port.</param>
    /// <param name="options">Limits and timeouts; defaults when null.</param>
    /// <param name="loggerFactory">Where logs go; none by default.</param>
    /// <param name="timeProvider">Clock for the idle timeout; the system clock by default.</param>
    /// <exception cref="ArgumentException">The target is not IPv4 or its port is 0.</exception>
    public InboundForwarder(IPStack stack, IPEndPoint listenEndPoint, IPEndPoint target, InboundForwarderOptions? options = null,
        ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
        : this(stack, listenEndPoint, target, options, loggerFactory, timeProvider, null, [])
    {
    }

    /// <summary>The proxy's forwarder: its public connections count against <paramref name="sources"/>, and their bytes
    /// into <paramref name="meters"/> (the activity's, the VPN's, the proxy's).</summary>
    internal InboundForwarder(IPStack stack, IPEndPoint listenEndPoint, IPEndPoint target, InboundForwarderOptions? options,
        ILoggerFactory? loggerFactory, TimeProvider? timeProvider, SourceLimiter? sources, BandwidthMeter[] meters)
    {
        ArgumentNullException.ThrowIfNull(stack);
        ArgumentNullException.ThrowIfNull(listenEndPoint);
        ArgumentNullException.ThrowIfNull(target);
        if (target.AddressFamily != AddressFamily.InterNetwork || target.Port == 0)
        {
            throw new ArgumentException("The target is an IPv4 address in the VPN with a port (the stack speaks IPv4).", nameof(target));
        }
        _options = options ?? new InboundForwarderOptions();
        _options.Validate();
        _stack = stack;
        _listen = listenEndPoint;
        _target = target;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<InboundForwarder>();
        _time = timeProvider ?? TimeProvider.System;
        _idle = new IdleSweeper(_options.IdleTimeout, _time);
        _sources = sources;
        _meters = meters;
    }

    /// <summary>The bound public endpoint (after <see cref="StartAsync"/>).</summary>
    public IPEndPoint? LocalEndPoint => (IPEndPoint?)_listener?.LocalEndPoint;

    /// <summary>The service inside the VPN that connections are carried to.</summary>
    public IPEndPoint Target => _target;

    /// <summary>Binds the public endpoint and starts accepting.</summary>
    /// <exception cref="SocketException">The endpoint cannot be bound (in use, not a local address, no permission).</exception>
    /// <exception cref="InvalidOperationException">Already started.</exception>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_listener is not null)
        {
            throw new InvalidOperationException("The forwarder is already started.");
        }
        var listener = new Socket(_listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.Bind(_listen);
            listener.Listen(_options.ListenBacklog);
        }
        catch
        {
            listener.Dispose();
            throw;
        }
        _listener = listener;
        InboundLog.Started(_logger, listener.LocalEndPoint!.ToString()!, _target.ToString(), _stack.Address.ToString());
        _acceptLoop = AcceptAsync(listener, _stopping.Token);
        return Task.CompletedTask;
    }

    /// <summary>Totals since the start, and the connections open now.</summary>
    public InboundForwarderStatistics GetStatistics() => new(
        Volatile.Read(ref _active), _counters.Accepted, _counters.Refused, _counters.Failed, _counters.ToTarget, _counters.FromTarget,
        [.. _open.Keys.Select(c => c.Snapshot())])
    {
        RateLimitedConnections = _counters.RateLimited,
    };

    /// <summary>The connections open now (for the proxy's sampler and per-connection metrics).</summary>
    internal IEnumerable<InboundConnection> OpenConnections => _open.Keys;

    /// <summary>Stops listening and resets every forwarded connection (both its public and its VPN side).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        if (_acceptLoop is not null)
        {
            // First the loop, so that no forward is tracked after the wait below has taken its list.
            await _acceptLoop.ConfigureAwait(false);
        }
        // Cancelled forwards reset both sides and end at once; the bound only guards against a wedged socket.
        await _tasks.WhenAllAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        _idle.Dispose();
        _stopping.Dispose();
    }

    private async Task AcceptAsync(Socket listener, CancellationToken cancellationToken)
    {
        var acceptor = new SocketAcceptor(listener, _logger);
        while (await acceptor.AcceptAsync(cancellationToken).ConfigureAwait(false) is { } socket)
        {
            if (socket.RemoteEndPoint is not IPEndPoint client)
            {
                socket.Dispose(); // reset before it could be accepted
                continue;
            }
            if (Interlocked.Increment(ref _active) > _options.MaxConnections)
            {
                Interlocked.Decrement(ref _active);
                _counters.CountRefused();
                InboundLog.OverLimit(_logger, client.ToString(), _options.MaxConnections);
                Reset(socket);
                continue;
            }
            var verdict = _sources?.TryOpen(client.Address) ?? SourceVerdict.Allowed;
            if (verdict != SourceVerdict.Allowed)
            {
                Interlocked.Decrement(ref _active);
                if (verdict == SourceVerdict.RateLimited)
                {
                    _counters.CountRateLimited();
                }
                else
                {
                    _counters.CountRefused();
                }
                InboundLog.SourceLimited(_logger, client.ToString(), verdict.ToString());
                Reset(socket);
                continue;
            }
            _counters.CountAccepted();
            _tasks.Track(ForwardAsync(socket, client, cancellationToken));
        }
    }

    private async Task ForwardAsync(Socket socket, IPEndPoint client, CancellationToken cancellationToken)
    {
        var connection = new InboundConnection(client, _counters, new BandwidthMeter(_time, _meters));
        _open.TryAdd(connection, 0);
        try
        {
            TcpConnection inside;
            try
            {
                // Fails if the client has already reset the connection: then there is nothing to forward.
                socket.NoDelay = true;
                using var connect = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                connect.CancelAfter(_options.ConnectTimeout);
                inside = await _stack.ConnectTcpAsync(_target.Address, _target.Port, connect.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is TcpConnectionException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                _counters.CountFailed();
                InboundLog.ConnectFailed(_logger, connection.Client.ToString(), _target.ToString(), e.Message);
                Reset(socket);
                return;
            }
            connection.VpnEndPoint = inside.LocalEndPoint;
            await SocketStreamPump.RunAsync(socket, new PumpedTcpConnection(inside), default, connection.AddToTarget,
                connection.AddFromTarget, null, null, _idle, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _open.TryRemove(connection, out _);
            _sources?.Close(client.Address);
            Interlocked.Decrement(ref _active);
        }
    }

    /// <summary>Closes with RST (linger 0): the client learns at once that nothing is behind the connection.</summary>
    private static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (SocketException)
        {
            // Already reset by the client: disposing is all that is left.
        }
        socket.Dispose();
    }
}
