using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Host;
using P2PNet.Host.Internal;
using P2PNet.Proxy.Tunnels.Internal;
using P2PNet.Proxy.Tunnels.Protos;

namespace P2PNet.Proxy.Tunnels;

/// <summary>
/// The target side of peer-to-peer forwarding without a server (<c>p2pnet tunnel listen</c>): serves
/// <c>/p2pnet/forward/1.0.0</c>, and for an allowed peer asking for a listed target connects to that target's local
/// endpoint and pipes the stream to it. Works over any connection the host has: direct, or relayed.
/// </summary>
/// <remarks>Thread-safe. <see cref="Start"/> registers the handler; <see cref="DisposeAsync"/> removes it and ends every forward.</remarks>
public sealed class ForwardTarget : IAsyncDisposable
{
    private readonly P2PHost _host;
    private readonly ForwardTargetOptions _options;
    private readonly ILogger _logger;
    private readonly IdleSweeper _idle;
    private readonly TaskTracker _forwards = new();
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>Creates the target side; nothing is served until <see cref="Start"/>.</summary>
    /// <param name="host">The libp2p host (owned by the caller).</param>
    /// <param name="options">The targets and the allowed peers.</param>
    /// <param name="loggerFactory">Where logs go; none by default.</param>
    /// <param name="timeProvider">Clock for the idle timeout; the system clock by default.</param>
    /// <exception cref="ArgumentException">A target name is invalid.</exception>
    public ForwardTarget(P2PHost host, ForwardTargetOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(options);
        foreach (var name in options.Targets.Keys)
        {
            TunnelNames.ThrowIfInvalid(name, nameof(options));
        }
        _host = host;
        _options = options;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<ForwardTarget>();
        _idle = new IdleSweeper(options.IdleTimeout, timeProvider ?? TimeProvider.System);
    }

    /// <summary>The protocol id served.</summary>
    public static string ProtocolId => TunnelWire.ForwardProtocol;

    /// <summary>Serves <c>/p2pnet/forward/1.0.0</c> on the host.</summary>
    public void Start() => _host.SetStreamHandler(TunnelWire.ForwardProtocol, HandleAsync);

    /// <summary>Stops serving and ends every forward.</summary>
    public async ValueTask DisposeAsync()
    {
        _host.RemoveStreamHandler(TunnelWire.ForwardProtocol);
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _forwards.WhenAllAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        _idle.Dispose();
        _stopping.Dispose();
    }

    private async Task HandleAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        var task = ServeAsync(stream, cancellationToken);
        _forwards.Track(task);
        await task.ConfigureAwait(false);
    }

    private async Task ServeAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        Socket? socket = null;
        string target = "";
        try
        {
            ForwardOpen? open;
            using (var head = CancellationTokenSource.CreateLinkedTokenSource(linked.Token))
            {
                head.CancelAfter(_options.ConnectTimeout);
                open = await TunnelWire.ReadAsync(stream.Input, ForwardOpen.Parser, head.Token).ConfigureAwait(false);
            }
            target = open?.Target ?? "";
            string? refusal = !_options.AllowAnyPeer && !_options.AllowedPeers.Contains(stream.RemotePeer) ? "peer not allowed"
                : !_options.Targets.TryGetValue(target, out _) ? "no such target"
                : null;
            if (refusal is not null)
            {
                TunnelLog.ForwardRefused(_logger, stream.RemotePeer.ToString(), target, refusal);
                await TunnelWire.WriteAsync(stream.Output, new ForwardResult { Ok = false, Message = refusal }, linked.Token).ConfigureAwait(false);
                await stream.CompleteWritesAsync(linked.Token).ConfigureAwait(false);
                await stream.DisposeAsync().ConfigureAwait(false);
                return;
            }
            socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            using (var connect = CancellationTokenSource.CreateLinkedTokenSource(linked.Token))
            {
                connect.CancelAfter(_options.ConnectTimeout);
                await socket.ConnectAsync(_options.Targets[target], connect.Token).ConfigureAwait(false);
            }
            await TunnelWire.WriteAsync(stream.Output, new ForwardResult { Ok = true }, linked.Token).ConfigureAwait(false);
            var handedOver = socket;
            socket = null;
            await SocketStreamPump.RunAsync(handedOver, stream, default, null, null, null, null, _idle, linked.Token).ConfigureAwait(false);
            return;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            TunnelLog.ForwardRefused(_logger, stream.RemotePeer.ToString(), target, e.Message);
        }
        finally
        {
            socket?.Dispose();
        }
        stream.Abort();
        await stream.DisposeAsync().ConfigureAwait(false);
    }
}
