using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace P2PNet.Bench.Bridge;

/// <summary>
/// A minimal RFC 6455 client over a raw socket, for load generation: it batches many frames into one send and parses
/// many from one receive, so the load generator costs less CPU than the bridge it measures. Masking uses the all-zero
/// key, which the RFC allows (a key is required, its value is the client's choice).
/// </summary>
internal sealed class RawWebSocketClient : IDisposable
{
    private readonly Socket _socket;
    private readonly byte[] _receive;
    private int _receiveStart;
    private int _receiveEnd;

    private RawWebSocketClient(Socket socket, int receiveBufferSize)
    {
        _socket = socket;
        _receive = new byte[receiveBufferSize];
    }

    /// <summary>The UDP endpoint the bridge announced.</summary>
    public IPEndPoint Announced { get; private set; } = new(IPAddress.None, 0);

    public static async Task<RawWebSocketClient> ConnectAsync(Uri url, int receiveBufferSize, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var client = new RawWebSocketClient(socket, receiveBufferSize);
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Parse(url.Host), url.Port), cancellationToken);
            string key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
            string request = $"GET {url.PathAndQuery} HTTP/1.1\r\nHost: {url.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + $"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n";
            await socket.SendAsync(Encoding.ASCII.GetBytes(request), cancellationToken);

            int headerEnd;
            while ((headerEnd = client._receive.AsSpan(0, client._receiveEnd).IndexOf("\r\n\r\n"u8)) < 0)
            {
                int n = await socket.ReceiveAsync(client._receive.AsMemory(client._receiveEnd), cancellationToken);
                if (n == 0)
                {
                    throw new IOException("The bridge closed during the handshake.");
                }

                client._receiveEnd += n;
            }

            if (!client._receive.AsSpan(0, headerEnd).StartsWith("HTTP/1.1 101"u8))
            {
                throw new IOException("Handshake refused: " + Encoding.ASCII.GetString(client._receive, 0, headerEnd));
            }

            client._receiveStart = headerEnd + 4;
            byte[] greeting = await client.ReceiveFrameAsync(cancellationToken);
            using JsonDocument json = JsonDocument.Parse(greeting);
            client.Announced = new IPEndPoint(
                IPAddress.Parse(json.RootElement.GetProperty("address").GetString()!), json.RootElement.GetProperty("port").GetInt32());
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>Writes one masked binary frame (header, zero mask key, payload) and returns its length.</summary>
    public static int WriteFrame(Span<byte> destination, ReadOnlySpan<byte> message)
    {
        if (message.Length > 125)
        {
            throw new ArgumentException("The benchmark sends small frames only.", nameof(message));
        }

        destination[0] = 0x82;
        destination[1] = (byte)(0x80 | message.Length);
        destination.Slice(2, 4).Clear();
        message.CopyTo(destination[6..]);
        return 6 + message.Length;
    }

    public ValueTask<int> SendAsync(ReadOnlyMemory<byte> frames, CancellationToken cancellationToken) =>
        _socket.SendAsync(frames, SocketFlags.None, cancellationToken);

    /// <summary>Receives at least one byte and returns how many complete frames are now buffered (consumed).</summary>
    public async ValueTask<int> ReceiveFramesAsync(CancellationToken cancellationToken)
    {
        Compact();
        int n = await _socket.ReceiveAsync(_receive.AsMemory(_receiveEnd), SocketFlags.None, cancellationToken);
        if (n == 0)
        {
            throw new IOException("The bridge closed the connection.");
        }

        _receiveEnd += n;
        int frames = 0;
        while (TryParse(out _, out int consumed))
        {
            _receiveStart += consumed;
            frames++;
        }

        return frames;
    }

    private async Task<byte[]> ReceiveFrameAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (TryParse(out ReadOnlyMemory<byte> payload, out int consumed))
            {
                byte[] result = payload.ToArray();
                _receiveStart += consumed;
                return result;
            }

            Compact();
            int n = await _socket.ReceiveAsync(_receive.AsMemory(_receiveEnd), SocketFlags.None, cancellationToken);
            if (n == 0)
            {
                throw new IOException("The bridge closed the connection.");
            }

            _receiveEnd += n;
        }
    }

    private bool TryParse(out ReadOnlyMemory<byte> payload, out int consumed)
    {
        payload = default;
        consumed = 0;
        ReadOnlySpan<byte> buffered = _receive.AsSpan(_receiveStart, _receiveEnd - _receiveStart);
        if (buffered.Length < 2)
        {
            return false;
        }

        int length = buffered[1] & 0x7f;
        int header = 2;
        if (length == 126)
        {
            if (buffered.Length < 4)
            {
                return false;
            }

            length = BinaryPrimitives.ReadUInt16BigEndian(buffered[2..]);
            header = 4;
        }
        else if (length == 127)
        {
            if (buffered.Length < 10)
            {
                return false;
            }

            length = checked((int)BinaryPrimitives.ReadUInt64BigEndian(buffered[2..]));
            header = 10;
        }

        if (buffered.Length < header + length)
        {
            return false;
        }

        payload = _receive.AsMemory(_receiveStart + header, length);
        consumed = header + length;
        return true;
    }

    private void Compact()
    {
        if (_receiveStart == _receiveEnd)
        {
            _receiveStart = _receiveEnd = 0;
        }
        else if (_receiveStart > _receive.Length / 2)
        {
            Buffer.BlockCopy(_receive, _receiveStart, _receive, 0, _receiveEnd - _receiveStart);
            _receiveEnd -= _receiveStart;
            _receiveStart = 0;
        }
    }

    public void Dispose() => _socket.Dispose();
}
