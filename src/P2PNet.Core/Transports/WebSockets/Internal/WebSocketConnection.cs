using System.Buffers;
using System.IO.Pipelines;
using System.Net.WebSockets;
using P2PNet.Multiformats;

namespace P2PNet.Transports.WebSockets.Internal;

/// <summary>
/// A WebSocket exposed as a pair of pipes: binary messages in either direction form one byte stream (message
/// boundaries carry no meaning, as in js-libp2p's and go-libp2p's websocket transports). One receive loop and one
/// send loop are owned by the connection. Completing <see cref="Output"/> sends a close frame (our half-close); the
/// remote's close frame ends <see cref="Input"/>.
/// </summary>
internal sealed class WebSocketConnection : TransportConnection
{
    private const int MinimumReceiveBuffer = 16 * 1024;

    private readonly WebSocket _socket;
    private readonly IDisposable? _owned;
    private readonly int _maxMessage;
    private readonly Pipe _receivePipe;
    private readonly Pipe _sendPipe;
    private readonly Task _receiveLoop;
    private readonly Task _sendLoop;
    private int _disposed;

    public WebSocketConnection(WebSocket socket, IDisposable? owned, Multiaddr localAddress, Multiaddr remoteAddress, WebSocketTransportOptions options)
    {
        _socket = socket;
        _owned = owned;
        _maxMessage = Math.Max(1024, options.MaxMessageSize);
        LocalAddress = localAddress;
        RemoteAddress = remoteAddress;
        _receivePipe = CreateBoundedPipe(options.MaxReadBufferSize, MinimumReceiveBuffer);
        _sendPipe = CreateBoundedPipe(options.MaxWriteBufferSize);
        _receiveLoop = ReceiveLoopAsync();
        _sendLoop = SendLoopAsync();
    }

    public override PipeReader Input => _receivePipe.Reader;

    public override PipeWriter Output => _sendPipe.Writer;

    public override Multiaddr LocalAddress { get; }

    public override Multiaddr RemoteAddress { get; }

    private async Task ReceiveLoopAsync()
    {
        await Task.Yield();
        var writer = _receivePipe.Writer;
        Exception? error = null;
        try
        {
            while (true)
            {
                Memory<byte> memory = writer.GetMemory(MinimumReceiveBuffer);
                ValueWebSocketReceiveResult result = await _socket.ReceiveAsync(memory, CancellationToken.None).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break; // the remote half-closed
                }
                if (result.MessageType != WebSocketMessageType.Binary)
                {
                    error = new IOException($"{RemoteAddress} sent a text message; libp2p over WebSockets uses binary messages only.");
                    _socket.Abort();
                    break;
                }
                writer.Advance(result.Count);
                CountReceived(result.Count);
                FlushResult flush = await writer.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    break; // our reader is gone
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            error = _disposed != 0 ? null : new IOException($"The WebSocket connection to {RemoteAddress} failed: {e.Message}", e);
        }
        await writer.CompleteAsync(error).ConfigureAwait(false);
    }

    private async Task SendLoopAsync()
    {
        await Task.Yield();
        var reader = _sendPipe.Reader;
        byte[] sendBuffer = ArrayPool<byte>.Shared.Rent(_maxMessage);
        try
        {
            while (true)
            {
                ReadResult result = await reader.ReadAsync().ConfigureAwait(false);
                ReadOnlySequence<byte> buffer = result.Buffer;
                // Whatever is queued goes out as few, whole messages (one per MaxMessageSize), like a TCP write would:
                // a pipe segment per message would split frames at arbitrary points into many tiny messages.
                while (!buffer.IsEmpty)
                {
                    var chunk = buffer.Slice(0, Math.Min(buffer.Length, _maxMessage));
                    if (chunk.IsSingleSegment)
                    {
                        await _socket.SendAsync(chunk.First, WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None).ConfigureAwait(false);
                        CountSent(chunk.Length);
                    }
                    else
                    {
                        chunk.CopyTo(sendBuffer);
                        await _socket.SendAsync(sendBuffer.AsMemory(0, (int)chunk.Length), WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None).ConfigureAwait(false);
                        CountSent(chunk.Length);
                    }
                    buffer = buffer.Slice(chunk.End);
                }
                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
            // Our writer completed: a close frame is WebSocket's half-close (the remote may still send until it closes).
            if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).ConfigureAwait(false);
            }
            await reader.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            await reader.CompleteAsync(new IOException($"Writing to {RemoteAddress} failed: {e.Message}", e)).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(sendBuffer);
        }
    }

    public override void Abort()
    {
        _socket.Abort();
        _owned?.Dispose();
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        // Let queued bytes and our close frame go out, then give the remote a moment to answer with its own.
        await _sendPipe.Writer.CompleteAsync().ConfigureAwait(false);
        try
        {
            await _sendLoop.WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
            await _receiveLoop.WaitAsync(TimeSpan.FromMilliseconds(500)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
        _socket.Abort();
        _socket.Dispose();
        _owned?.Dispose();
        await _receivePipe.Reader.CompleteAsync().ConfigureAwait(false);
        await Task.WhenAll(_receiveLoop, _sendLoop).ConfigureAwait(false);
    }
}
