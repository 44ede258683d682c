using System.Buffers;
using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using P2PNet.Proxy.UdpBridge.Internal;

namespace P2PNet.Proxy.Tests.UdpBridge;

/// <summary>A bridge client over a real <see cref="ClientWebSocket"/>, speaking the documented frame format.</summary>
internal sealed class BridgeClient : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private readonly ClientWebSocket _webSocket;

    private BridgeClient(ClientWebSocket webSocket, IPEndPoint announced)
    {
        _webSocket = webSocket;
        Announced = announced;
    }

    /// <summary>The public UDP endpoint the bridge announced in its greeting.</summary>
    public IPEndPoint Announced { get; }

    public WebSocket WebSocket => _webSocket;

    /// <summary>Connects and reads the greeting.</summary>
    public static async Task<BridgeClient> ConnectAsync(Uri url, Action<ClientWebSocketOptions>? configure = null)
    {
        var webSocket = new ClientWebSocket();
        configure?.Invoke(webSocket.Options);
        try
        {
            await webSocket.ConnectAsync(url, CancellationToken.None).WaitAsync(Timeout);
            (WebSocketMessageType type, byte[] greeting) = await ReceiveMessageAsync(webSocket);
            Assert.Equal(WebSocketMessageType.Text, type);
            using JsonDocument json = JsonDocument.Parse(greeting);
            var announced = new IPEndPoint(
                IPAddress.Parse(json.RootElement.GetProperty("address").GetString()!),
                json.RootElement.GetProperty("port").GetInt32());
            return new BridgeClient(webSocket, announced);
        }
        catch
        {
            webSocket.Dispose();
            throw;
        }
    }

    /// <summary>Sends one datagram to <paramref name="destination"/> through the bridge.</summary>
    public Task SendAsync(IPEndPoint destination, ReadOnlySpan<byte> payload)
    {
        var writer = new ArrayBufferWriter<byte>();
        UdpBridgeFrame.Write(writer, destination, payload);
        return SendRawAsync(writer.WrittenMemory.ToArray());
    }

    /// <summary>Sends bytes as one binary message, whatever they contain.</summary>
    public Task SendRawAsync(byte[] message, WebSocketMessageType type = WebSocketMessageType.Binary) =>
        _webSocket.SendAsync(message, type, endOfMessage: true, CancellationToken.None).WaitAsync(Timeout);

    /// <summary>Receives the next datagram frame: its source and payload.</summary>
    public async Task<(IPEndPoint Source, byte[] Payload)> ReceiveAsync()
    {
        (WebSocketMessageType type, byte[] message) = await ReceiveMessageAsync(_webSocket);
        Assert.Equal(WebSocketMessageType.Binary, type);
        UdpBridgeFrame frame = UdpBridgeFrame.Read(message);
        return (frame.ToEndPoint(), frame.Payload.ToArray());
    }

    /// <summary>Reads until the bridge's close frame and returns its code and reason.</summary>
    public async Task<(WebSocketCloseStatus? Status, string? Description)> ReceiveCloseAsync()
    {
        while (true)
        {
            (WebSocketMessageType type, _) = await ReceiveMessageAsync(_webSocket);
            if (type == WebSocketMessageType.Close)
            {
                return (_webSocket.CloseStatus, _webSocket.CloseStatusDescription);
            }
        }
    }

    private static async Task<(WebSocketMessageType Type, byte[] Message)> ReceiveMessageAsync(WebSocket webSocket)
    {
        var buffer = new byte[70_000];
        int length = 0;
        while (true)
        {
            ValueWebSocketReceiveResult result = await webSocket.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None).AsTask().WaitAsync(Timeout);
            length += result.Count;
            if (result.EndOfMessage || result.MessageType == WebSocketMessageType.Close)
            {
                return (result.MessageType, buffer[..length]);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_webSocket.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            try
            {
                await _webSocket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None).WaitAsync(Timeout);
            }
            catch (Exception e) when (e is WebSocketException or TimeoutException or OperationCanceledException)
            {
            }
        }

        _webSocket.Dispose();
    }
}
