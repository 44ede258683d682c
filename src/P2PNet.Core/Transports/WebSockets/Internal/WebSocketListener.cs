using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using P2PNet.Multiformats;

namespace P2PNet.Transports.WebSockets.Internal;

/// <summary>
/// Accepts TCP connections and runs each one's HTTP/1.1 upgrade concurrently (at most
/// <see cref="WebSocketTransportOptions.MaxPendingUpgrades"/> at once, each bounded by
/// <see cref="WebSocketTransportOptions.UpgradeTimeout"/>), so one slow client cannot stall the others. Upgraded
/// connections wait in a bounded queue for <see cref="AcceptAsync"/>.
/// </summary>
internal sealed class WebSocketListener : ITransportListener
{
    private readonly Socket _socket;
    private readonly WebSocketTransportOptions _options;
    private readonly Channel<TransportConnection> _ready;
    private readonly SemaphoreSlim _upgradeSlots;
    private readonly CancellationTokenSource _closing = new();
    private readonly Task _acceptLoop;
    private readonly List<Task> _upgrades = [];
    private readonly Lock _lock = new();
    private readonly AcceptBackoff _backoff;
    private int _disposed;

    public WebSocketListener(Socket socket, WebSocketTransportOptions options, ILogger logger)
    {
        _socket = socket;
        _options = options;
        LocalAddress = WebSocketTransport.WithWs(Multiaddr.FromTcpEndPoint((IPEndPoint)socket.LocalEndPoint!), secure: false);
        _backoff = new AcceptBackoff(logger, LocalAddress);
        _ready = Channel.CreateBounded<TransportConnection>(new BoundedChannelOptions(Math.Max(1, options.MaxPendingUpgrades)) { SingleReader = false });
        _upgradeSlots = new SemaphoreSlim(Math.Max(1, options.MaxPendingUpgrades));
        _acceptLoop = AcceptLoopAsync();
    }

    public Multiaddr LocalAddress { get; }

    public async ValueTask<TransportConnection> AcceptAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            return await _ready.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            throw new ObjectDisposedException(nameof(WebSocketListener), "The listener was closed.");
        }
    }

    private async Task AcceptLoopAsync()
    {
        await Task.Yield();
        try
        {
            while (true)
            {
                await _upgradeSlots.WaitAsync(_closing.Token).ConfigureAwait(false);
                Socket accepted;
                try
                {
                    accepted = await _socket.AcceptAsync(_closing.Token).ConfigureAwait(false);
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
                {
                    _upgradeSlots.Release();
                    continue;
                }
                catch (SocketException e) when (e.SocketErrorCode != SocketError.OperationAborted)
                {
                    // Out of descriptors or buffers (EMFILE, ENFILE, ENOBUFS, ENOMEM): wait and retry; the loop must outlive it.
                    _upgradeSlots.Release();
                    await _backoff.WaitAsync(e, _closing.Token).ConfigureAwait(false);
                    continue;
                }
                if (DescriptorReserve.IsExhausted(accepted))
                {
                    // One of the process's last descriptors: shed the connection before the runtime runs out.
                    accepted.Dispose();
                    _upgradeSlots.Release();
                    await _backoff.WaitAsync(DescriptorReserve.Exhausted(), _closing.Token).ConfigureAwait(false);
                    continue;
                }
                _backoff.Reset();
                accepted.NoDelay = true;
                var upgrade = UpgradeAsync(accepted);
                lock (_lock)
                {
                    _upgrades.RemoveAll(t => t.IsCompleted);
                    _upgrades.Add(upgrade);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // closed
        }
    }

    private async Task UpgradeAsync(Socket socket)
    {
        var stream = new NetworkStream(socket, ownsSocket: true);
        bool handedOver = false;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_closing.Token);
        timeout.CancelAfter(_options.UpgradeTimeout);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(Math.Max(512, _options.MaxUpgradeRequestSize));
        try
        {
            int length = 0, end;
            while ((end = WebSocketUpgrade.FindEndOfHead(buffer.AsSpan(0, length))) < 0)
            {
                if (length >= _options.MaxUpgradeRequestSize)
                {
                    await stream.WriteAsync(WebSocketUpgrade.FormatError(431, "Request Header Fields Too Large"), timeout.Token).ConfigureAwait(false);
                    return;
                }
                int read = await stream.ReadAsync(buffer.AsMemory(length, _options.MaxUpgradeRequestSize - length), timeout.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    return;
                }
                length += read;
            }
            if (end != length)
            {
                return; // a client may not send frames before our 101 (RFC 6455 §4.1)
            }
            string key;
            try
            {
                key = WebSocketUpgrade.ParseRequest(buffer.AsSpan(0, end));
            }
            catch (WireFormatException)
            {
                await stream.WriteAsync(WebSocketUpgrade.FormatError(400, "Bad Request"), timeout.Token).ConfigureAwait(false);
                return;
            }
            await stream.WriteAsync(WebSocketUpgrade.FormatResponse(key), timeout.Token).ConfigureAwait(false);
            var webSocket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions
            {
                IsServer = true,
                KeepAliveInterval = _options.KeepAliveInterval,
            });
            var connection = new WebSocketConnection(webSocket, stream,
                WebSocketTransport.WithWs(Multiaddr.FromTcpEndPoint((IPEndPoint)socket.LocalEndPoint!), secure: false),
                WebSocketTransport.WithWs(Multiaddr.FromTcpEndPoint((IPEndPoint)socket.RemoteEndPoint!), secure: false),
                _options);
            handedOver = true;
            if (!_ready.Writer.TryWrite(connection))
            {
                await connection.DisposeAsync().ConfigureAwait(false); // closing, or nobody accepts: refuse
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // a client that fails its upgrade affects nobody else
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            if (!handedOver)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
            _upgradeSlots.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _closing.CancelAsync().ConfigureAwait(false);
        _socket.Dispose();
        await _acceptLoop.ConfigureAwait(false);
        Task[] upgrades;
        lock (_lock)
        {
            upgrades = [.. _upgrades];
        }
        await Task.WhenAll(upgrades).ConfigureAwait(false);
        _ready.Writer.TryComplete();
        while (_ready.Reader.TryRead(out var pending))
        {
            await pending.DisposeAsync().ConfigureAwait(false);
        }
        _closing.Dispose();
        _upgradeSlots.Dispose();
    }
}
