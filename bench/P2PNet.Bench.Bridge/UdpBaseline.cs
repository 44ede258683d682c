using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace P2PNet.Bench.Bridge;

/// <summary>
/// Reference point for the throughput figure: the same windowed echo traffic over plain UDP on loopback, no bridge,
/// measured on the same machine at the same time. It shows what the machine can do while the benchmark runs.
/// </summary>
internal static class UdpBaseline
{
    public static async Task<double> DatagramsPerSecondAsync(int window, int payloadBytes, TimeSpan duration)
    {
        await using var echo = new UdpEcho();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveBufferSize = 4 * 1024 * 1024 };
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        byte[] payload = new byte[payloadBytes];
        byte[] receive = new byte[2048];
        var from = new SocketAddress(AddressFamily.InterNetwork);
        SocketAddress to = echo.EndPoint.Serialize();
        for (int i = 0; i < window; i++)
        {
            await socket.SendToAsync(payload, SocketFlags.None, to);
        }

        long echoes = 0;
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource(duration);
        try
        {
            while (true)
            {
                await socket.ReceiveFromAsync(receive, SocketFlags.None, from, stop.Token);
                echoes++;
                await socket.SendToAsync(payload, SocketFlags.None, to, stop.Token);
            }
        }
        catch (OperationCanceledException)
        {
        }

        // Each echo is two datagrams on the wire, as each bridge echo is two relayed datagrams.
        return 2 * echoes / clock.Elapsed.TotalSeconds;
    }
}
