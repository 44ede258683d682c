using System.Net;
using System.Net.Sockets;

namespace P2PNet.Bench.Bridge;

/// <summary>A UDP echo loop on 127.0.0.1 for the throughput run.</summary>
internal sealed class UdpEcho : IAsyncDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public UdpEcho()
    {
        _socket.ReceiveBufferSize = 4 * 1024 * 1024;
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        EndPoint = (IPEndPoint)_socket.LocalEndPoint!;
        _loop = Task.Run(EchoAsync);
    }

    public IPEndPoint EndPoint { get; }

    private async Task EchoAsync()
    {
        var buffer = new byte[2048];
        var from = new SocketAddress(AddressFamily.InterNetwork);
        try
        {
            while (true)
            {
                int n = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, from, _stop.Token);
                await _socket.SendToAsync(buffer.AsMemory(0, n), SocketFlags.None, from, _stop.Token);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        await _loop;
        _socket.Dispose();
        _stop.Dispose();
    }
}
