using System.Net;
using System.Net.Sockets;

namespace P2PNet.Proxy.Tests.UdpBridge;

/// <summary>A real UDP echo server on a loopback address: every datagram goes back to its sender unchanged.</summary>
internal sealed class UdpEchoServer : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int _received;

    public UdpEchoServer(IPAddress address)
    {
        _socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        _socket.ReceiveBufferSize = 1024 * 1024;
        _socket.Bind(new IPEndPoint(address, 0));
        EndPoint = (IPEndPoint)_socket.LocalEndPoint!;
        _loop = EchoAsync();
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>Datagrams received so far.</summary>
    public int Received => Volatile.Read(ref _received);

    private async Task EchoAsync()
    {
        var buffer = new byte[65536];
        var from = new SocketAddress(_socket.AddressFamily);
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                int n = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, from, _stop.Token);
                Interlocked.Increment(ref _received);
                await _socket.SendToAsync(buffer.AsMemory(0, n), SocketFlags.None, from, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (SocketException)
            {
                // An ICMP error for an earlier echo; keep serving.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        await _loop.WaitAsync(TimeSpan.FromSeconds(10));
        _socket.Dispose();
        _stop.Dispose();
    }
}
