using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using P2PNet.Vpn.NetStack;

namespace P2PNet.Proxy.Tests.Inbound;

/// <summary>Services on a user-space stack and socket checks shared by the inbound forwarder's and the proxy's tests.</summary>
internal static class InboundTestKit
{
    /// <summary>A connection over the limit is reset at once: the connect itself may already see the reset (on loopback
    /// the forwarder can accept and reset before the client's connect completes), or the first read does.</summary>
    internal static async Task AssertRefusedAsync(IPEndPoint endPoint, CancellationToken ct)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(endPoint, ct);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return;
        }
        Assert.True(await EndsWithoutDataAsync(socket, ct));
    }

    internal static async Task EchoAsync(TcpConnection connection, CancellationToken ct)
    {
        var buffer = new byte[64 * 1024];
        int n;
        while ((n = await connection.ReadAsync(buffer, ct)) > 0)
        {
            await connection.WriteAsync(buffer.AsMemory(0, n), ct);
        }
        connection.CompleteWrites();
    }

    internal static async Task AssertEchoesAsync(Socket socket, CancellationToken ct)
    {
        await socket.SendAsync("ping"u8.ToArray(), SocketFlags.None, ct);
        var buffer = new byte[4];
        for (int total = 0; total < buffer.Length;)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(total), SocketFlags.None, ct);
            Assert.NotEqual(0, n);
            total += n;
        }
        Assert.Equal("ping", Encoding.ASCII.GetString(buffer));
    }

    /// <summary>True once the socket ends (EOF or reset) without any byte arriving.</summary>
    internal static async Task<bool> EndsWithoutDataAsync(Socket socket, CancellationToken ct)
    {
        try
        {
            return await socket.ReceiveAsync(new byte[16], SocketFlags.None, ct) == 0;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return true;
        }
    }

    internal static async Task<byte[]> ReadToEndAsync(TcpConnection connection, CancellationToken ct)
    {
        using var all = new MemoryStream();
        var buffer = new byte[4096];
        int n;
        while ((n = await connection.ReadAsync(buffer, ct)) > 0)
        {
            all.Write(buffer, 0, n);
        }
        return all.ToArray();
    }

    internal static async Task<byte[]> SendSeededAsync(Socket socket, int length, int seed, CancellationToken ct)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var random = new Random(seed);
        var chunk = new byte[64 * 1024];
        for (int left = length; left > 0;)
        {
            int size = Math.Min(chunk.Length, left);
            random.NextBytes(chunk.AsSpan(0, size));
            hash.AppendData(chunk, 0, size);
            for (int sent = 0; sent < size;)
            {
                sent += await socket.SendAsync(chunk.AsMemory(sent, size - sent), SocketFlags.None, ct);
            }
            left -= size;
        }
        return hash.GetHashAndReset();
    }

    internal static async Task<(byte[] Hash, long Length)> ReceiveToEndAsync(Socket socket, CancellationToken ct)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[64 * 1024];
        long total = 0;
        int n;
        while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, ct)) > 0)
        {
            hash.AppendData(buffer, 0, n);
            total += n;
        }
        return (hash.GetHashAndReset(), total);
    }

    /// <summary>A TCP service on a stack: accepts until disposed, runs a handler per connection, and waits for them all.</summary>
    internal sealed class ServiceRunner : IAsyncDisposable
    {
        private readonly TcpPortListener _listener;
        private readonly CancellationTokenSource _stop = new();
        private readonly List<Task> _handlers = [];
        private readonly Task _accepting;

        private ServiceRunner(IPStack stack, int port, Func<TcpConnection, CancellationToken, Task> handle)
        {
            _listener = stack.ListenTcp(port);
            _accepting = AcceptAsync(handle);
        }

        public static ServiceRunner Start(IPStack stack, int port, Func<TcpConnection, CancellationToken, Task> handle) =>
            new(stack, port, handle);

        private async Task AcceptAsync(Func<TcpConnection, CancellationToken, Task> handle)
        {
            try
            {
                while (true)
                {
                    var connection = await _listener.AcceptAsync(_stop.Token);
                    lock (_handlers)
                    {
                        _handlers.Add(RunAsync(connection, handle));
                    }
                }
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
            }
        }

        private async Task RunAsync(TcpConnection connection, Func<TcpConnection, CancellationToken, Task> handle)
        {
            await using (connection)
            {
                try
                {
                    await handle(connection, _stop.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or TcpConnectionException)
                {
                    // A reset from the forwarder's side, or the test ending.
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Dispose();
            await _accepting;
            Task[] handlers;
            lock (_handlers)
            {
                handlers = [.. _handlers];
            }
            await Task.WhenAll(handlers).WaitAsync(InboundVpnLab.Timeout);
            _stop.Dispose();
        }
    }
}
