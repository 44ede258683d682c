using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.Logging;

namespace P2PNet.Proxy.UdpBridge.Internal;

/// <summary>
/// One browser's bridge session: a WebSocket and the UDP socket bound for it, relaying datagram frames both ways.
/// </summary>
/// <remarks>
/// Two loops run per session, each the single user of its half of the WebSocket: the reader
/// (<see cref="RunWebSocketToUdpAsync"/>) is the only caller of <c>ReceiveAsync</c>, the writer
/// (<see cref="RunUdpToWebSocketAsync"/>) the only caller of <c>SendAsync</c> and <c>CloseOutputAsync</c>.
/// An idle session holds no buffer: both loops wait with zero-byte reads and rent from
/// <see cref="System.Buffers.ArrayPool{T}"/> only while datagrams are in hand. Both loops batch: the reader sends
/// every message already buffered on the websocket in one <see cref="UdpSendBatch"/>, the writer drains every queued
/// datagram in one <see cref="UdpReceiveBatch"/> and flushes the websocket once.
/// Closing is one-way and may be requested from any thread (<see cref="RequestClose"/>): it stops the UDP wait, the
/// writer sends the close frame and the reader drains until the browser answers; the bridge's sweeper aborts a
/// session whose browser does not answer within <see cref="UdpBridgeOptions.CloseTimeout"/>.
/// </remarks>
internal sealed partial class BridgeSession : IDisposable
{
    private readonly UdpBridgeService _bridge;
    private readonly WebSocket _webSocket;
    private readonly Socket _udp;

    // The client's address group, whose browser → UDP buckets every client of the address shares.
    private readonly ClientAddress _address;

    // The standalone server's transport, whose flushes the writer batches; null on the in-app HTTP path.
    private readonly DuplexPipeStream? _transport;
    private readonly CancellationTokenSource _closing = new();
    private readonly SocketAddress _peekAddress;

    // Created on the first datagram each way, so a client that never relays holds neither; their buffers are rented
    // only while a burst is in hand.
    private UdpSendBatch? _toUdp;
    private UdpReceiveBatch? _fromUdp;

    // Each bucket is touched by one loop only: the reader spends the to-UDP pair, the writer the to-WebSocket pair.
    private TokenBucket _toUdpDatagrams;
    private TokenBucket _toUdpBytes;
    private TokenBucket _toWebSocketDatagrams;
    private TokenBucket _toWebSocketBytes;

    private long _lastActivity;
    private long _closeRequestedAt;
    private int _closeState; // 0 open, 1 close requested, 2 aborted
    private WebSocketCloseStatus _closeStatus;
    private string _closeDescription = string.Empty;
    private string _closeReason = "connection_lost";

    public BridgeSession(long id, UdpBridgeService bridge, WebSocket webSocket, Socket udp, ClientAddress address, DuplexPipeStream? transport)
    {
        Id = id;
        _address = address;
        _transport = transport;
        _bridge = bridge;
        _webSocket = webSocket;
        _udp = udp;
        _peekAddress = new SocketAddress(udp.AddressFamily);
        long now = bridge.TimeProvider.GetTimestamp();
        _lastActivity = now;
        _toUdpDatagrams = new TokenBucket(now, bridge.MaxDatagramsPerSecond);
        _toUdpBytes = new TokenBucket(now, bridge.MaxBytesPerSecond);
        _toWebSocketDatagrams = new TokenBucket(now, bridge.MaxDatagramsPerSecond);
        _toWebSocketBytes = new TokenBucket(now, bridge.MaxBytesPerSecond);
    }

    /// <summary>The bridge-wide id of this session, for logs.</summary>
    public long Id { get; }

    /// <summary>Why the session ended (a metric tag); meaningful once <see cref="RunAsync"/> completed.</summary>
    public string CloseReason => _closeReason;

    private bool IsClosing => Volatile.Read(ref _closeState) != 0;

    /// <summary>Sends the greeting naming the public UDP endpoint, then relays until the session closes.</summary>
    public async Task RunAsync(string greeting)
    {
        try
        {
            byte[] json = Encoding.UTF8.GetBytes(greeting);
            await _webSocket.SendAsync(json, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None)
                .ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            _bridge.Logger.ConnectionLost(Id, e);
            Abort();
            return;
        }

        Task writer = RunUdpToWebSocketAsync();
        await RunWebSocketToUdpAsync().ConfigureAwait(false);

        // The reader ends when the browser's close arrived or the connection broke; either way the writer must stop.
        RequestClose(UdpBridgeCloseStatus.Normal, string.Empty, "connection_lost");
        await writer.ConfigureAwait(false);
    }

    /// <summary>
    /// Asks the session to close with <paramref name="status"/>; the first request wins. Thread-safe, never blocks.
    /// </summary>
    /// <param name="status">The close code sent to the browser.</param>
    /// <param name="description">The close reason sent to the browser (shortened to fit a close frame).</param>
    /// <param name="reason">The low-cardinality reason recorded in metrics and logs.</param>
    public void RequestClose(WebSocketCloseStatus status, string description, string reason)
    {
        if (Interlocked.CompareExchange(ref _closeState, 1, 0) != 0)
        {
            return;
        }

        _closeStatus = status;
        _closeDescription = UdpBridgeCloseStatus.Fit(description);
        _closeReason = reason;
        Volatile.Write(ref _closeRequestedAt, _bridge.TimeProvider.GetTimestamp());
        try
        {
            _closing.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The session already ended.
        }
    }

    /// <summary>Tears the session down without a close handshake. Thread-safe.</summary>
    public void Abort()
    {
        Interlocked.Exchange(ref _closeState, 2);
        _webSocket.Abort();
        try
        {
            _closing.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>
    /// Called by the bridge's sweeper: closes an idle session and aborts one whose browser has not answered a close.
    /// </summary>
    public void CheckTimers(long now)
    {
        int state = Volatile.Read(ref _closeState);
        if (state == 1)
        {
            TimeSpan closing = _bridge.TimeProvider.GetElapsedTime(Volatile.Read(ref _closeRequestedAt), now);
            if (closing > _bridge.Options.CloseTimeout)
            {
                _bridge.Logger.CloseTimedOut(Id, _bridge.Options.CloseTimeout);
                Abort();
            }
        }
        else if (state == 0 && _bridge.Options.IdleTimeout != Timeout.InfiniteTimeSpan
            && _bridge.TimeProvider.GetElapsedTime(Volatile.Read(ref _lastActivity), now) > _bridge.Options.IdleTimeout)
        {
            RequestClose(UdpBridgeCloseStatus.Normal, "idle timeout", "idle");
        }
    }

    /// <summary>Releases the UDP socket; call once after <see cref="RunAsync"/> finished.</summary>
    public void Dispose()
    {
        _udp.Dispose();
        _closing.Dispose();
    }

    /// <summary>The close code and description the bridge sent or will send.</summary>
    public (WebSocketCloseStatus Status, string Description) CloseSent => (_closeStatus, _closeDescription);

    private void Touch(long now) => Volatile.Write(ref _lastActivity, now);

    private void Drop(RelayDirection direction, DropReason reason)
    {
        _bridge.Metrics.Dropped(direction, reason);
        _bridge.Logger.Dropped(Id, direction, reason);
    }

    private static bool TryTake(ref TokenBucket datagrams, ref TokenBucket bytes, int payloadLength, UdpBridgeService bridge, long now)
    {
        long frequency = bridge.TimeProvider.TimestampFrequency;

        // Refill both, then spend from both or neither, so a datagram refused by one bucket costs nothing in the other.
        datagrams.Refill(bridge.MaxDatagramsPerSecond, now, frequency);
        bytes.Refill(bridge.MaxBytesPerSecond, now, frequency);
        if (!datagrams.Has(1, bridge.MaxDatagramsPerSecond) || !bytes.Has(payloadLength, bridge.MaxBytesPerSecond))
        {
            return false;
        }

        datagrams.Take(1, bridge.MaxDatagramsPerSecond);
        bytes.Take(payloadLength, bridge.MaxBytesPerSecond);
        return true;
    }

    private static bool IsConnectionFailure(Exception e) =>
        e is WebSocketException or IOException or ObjectDisposedException or OperationCanceledException
            or InvalidOperationException;

    internal static bool IsIPv4Mapped(ReadOnlySpan<byte> v6) => Networking.Internal.AddressPolicy.IsIPv4Mapped(v6);

    internal static IPAddress Unmap(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
