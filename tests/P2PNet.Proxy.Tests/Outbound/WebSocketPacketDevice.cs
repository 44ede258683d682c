using System.Net;
using System.Net.WebSockets;
using P2PNet.Vpn;

namespace P2PNet.Proxy.Tests.Outbound;

/// <summary>The net-api's raw websocket as a packet device: each binary message is one IPv4 packet, so a user-space
/// <c>IPStack</c> runs over it (the requestor's client side of the outbound-gateway tests).</summary>
internal sealed class WebSocketPacketDevice(WebSocket socket) : IPacketDevice
{
    private readonly SemaphoreSlim _send = new(1, 1);

    public ValueTask ConfigureAsync(IPAddress address, int prefixLength, int mtu, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    public async ValueTask<int> ReadPacketAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int length = 0;
        while (true)
        {
            ValueWebSocketReceiveResult result;
            try
            {
                result = await socket.ReceiveAsync(buffer[length..], cancellationToken);
            }
            catch (WebSocketException)
            {
                return 0;
            }
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return 0;
            }
            length += result.Count;
            if (result.EndOfMessage)
            {
                return length;
            }
        }
    }

    public async ValueTask WritePacketAsync(ReadOnlyMemory<byte> packet, CancellationToken cancellationToken = default)
    {
        await _send.WaitAsync(cancellationToken);
        try
        {
            await socket.SendAsync(packet, WebSocketMessageType.Binary, true, cancellationToken);
        }
        finally
        {
            _send.Release();
        }
    }

    public ValueTask DisposeAsync()
    {
        socket.Abort();
        return ValueTask.CompletedTask;
    }
}
