using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Host;
using P2PNet.Host.Internal;
using P2PNet.Peers;
using P2PNet.Proxy.Tunnels.Internal;
using P2PNet.Proxy.Tunnels.Protos;
using P2PNet.Transports;

namespace P2PNet.Proxy.Tunnels;

/// <summary>
/// The local side of peer-to-peer forwarding without a server (<c>p2pnet tunnel forward</c>, like <c>ipfs p2p forward</c>):
/// listens on a local TCP endpoint and carries each connection to a named target of a peer running a
/// <see cref="ForwardTarget"/>, over whatever connection the host has to that peer (direct or relayed).
/// </summary>
/// <remarks>Thread-safe. <see cref="StartAsync"/> binds and checks the target once; <see cref="DisposeAsync"/> ends every forward.</remarks>
public sealed class PortForwarder : IAsyncDisposable
{
    private readonly P2PHost _host;
    private readonly PeerId _peer;
    private readonly string _target;
    private readonly IPEndPoint _local;
    private readonly ILogger _logger;
    private readonly IdleSweeper _idle;
    private readonly TaskTracker _tasks = new();
    private readonly CancellationTokenSource _stopping = new();
    private Socket? _listener;

    /// <summary>Creates the forwarder; nothing listens until <see cref="StartAsync"/>.</summary>
    /// <param name="host">The libp2p host, which must be able to reach <paramref name="peer"/> (owned by the caller).</param>
    /// <param name="peer">The peer serving the target.</param>
    /// <param name="target">The target's name on that peer.</param>
    /// <param name="localEndPoint">Where to accept local connections (port 0 picks one).</param>
    /// <param name="idleTimeout">A forwarded connection idle this long is closed; default 15 minutes.</param>
    /// <param name="loggerFactory">Where logs go; none by default.</param>
    /// <param name="timeProvider">Clock for the idle timeout; the system clock by default.</param>
    public PortForwarder(P2PHost host, PeerId peer, string target, IPEndPoint localEndPoint, TimeSpan? idleTimeout = null,
        ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(localEndPoint);
        TunnelNames.ThrowIfInvalid(target, nameof(target));
        _host = host;
        _peer = peer;
        _target = target;
        _local = localEndPoint;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<PortForwarder>();
        _idle = new IdleSweeper(idleTimeout ?? TimeSpan.FromMinutes(15), timeProvider ?? TimeProvider.System);
    }

    /// <summary>The bound local endpoint (after <see cref="StartAsync"/>).</summary>
    public IPEndPoint? LocalEndPoint => (IPEndPoint?)_listener?.LocalEndPoint;

    /// <summary>Checks that the peer serves the target to us (one trial stream), then listens.</summary>
    /// <exception cref="TunnelRegistrationException">The peer refused: not allowed, or no such target.</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        // A trial open: a refusal is reported now, not at the first local connection.
        var stream = await OpenAsync(cancellationToken).ConfigureAwait(false);
        stream.Abort();
        await stream.DisposeAsync().ConfigureAwait(false);
        var listener = new Socket(_local.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.Bind(_local);
            listener.Listen(512);
        }
        catch
        {
            listener.Dispose();
            throw;
        }
        _listener = listener;
        _tasks.Track(AcceptAsync(listener, _stopping.Token));
    }

    /// <summary>Stops listening and ends every forward.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        await _tasks.WhenAllAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        _idle.Dispose();
        _stopping.Dispose();
    }

    private async Task<P2PStream> OpenAsync(CancellationToken cancellationToken)
    {
        var stream = await _host.OpenStreamAsync(_peer, TunnelWire.ForwardProtocol, cancellationToken).ConfigureAwait(false);
        try
        {
            await TunnelWire.WriteAsync(stream.Output, new ForwardOpen { Target = _target }, cancellationToken).ConfigureAwait(false);
            var result = await TunnelWire.ReadAsync(stream.Input, ForwardResult.Parser, cancellationToken).ConfigureAwait(false);
            if (result is null)
            {
                throw new IOException($"{_peer} ended the forward stream without answering");
            }
            if (!result.Ok)
            {
                throw new TunnelRegistrationException(TunnelStatusCode.BadRequest, $"{_peer} refused target '{_target}': {result.Message}");
            }
            return stream;
        }
        catch
        {
            stream.Abort();
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task AcceptAsync(Socket listener, CancellationToken cancellationToken)
    {
        var acceptor = new SocketAcceptor(listener, _logger);
        while (await acceptor.AcceptAsync(cancellationToken).ConfigureAwait(false) is { } socket)
        {
            _tasks.Track(ForwardAsync(socket, cancellationToken));
        }
    }

    private async Task ForwardAsync(Socket socket, CancellationToken cancellationToken)
    {
        socket.NoDelay = true;
        P2PStream stream;
        try
        {
            using var open = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            open.CancelAfter(TimeSpan.FromSeconds(30));
            stream = await OpenAsync(open.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            TunnelLog.ForwardRefused(_logger, _peer.ToString(), _target, e.Message);
            socket.Dispose();
            return;
        }
        await SocketStreamPump.RunAsync(socket, stream, default, null, null, null, null, _idle, cancellationToken).ConfigureAwait(false);
    }
}
