using System.Net;
using System.Net.Sockets;

namespace P2PNet.Core.Tests.Host;

/// <summary>
/// A TCP relay in front of a host (real sockets both sides) that can stop reading from the host, as a peer whose process
/// is paused (SIGSTOP) would, or reset both sides at once. Its socket toward the host has a small receive buffer, so the
/// host's socket send buffer and pipes fill after a few megabytes instead of being absorbed by the kernel.
/// </summary>
internal sealed class StallingRelay : IAsyncDisposable
{
    private const int SmallReceiveBuffer = 32 * 1024;

    private readonly Socket _listener;
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _closing = new();
    private readonly TaskCompletionSource _stalled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _lock = new();
    private readonly List<Socket> _sockets = [];
    private readonly List<Task> _pumps = [];
    private readonly Task _acceptLoop;
    private long _relayedToClient;

    private StallingRelay(Socket listener, IPEndPoint target)
    {
        _listener = listener;
        _target = target;
        _acceptLoop = AcceptLoopAsync();
    }

    /// <summary>Bytes relayed from the host to the client so far.</summary>
    public long RelayedToClient => Interlocked.Read(ref _relayedToClient);

    /// <summary>The relay's own port on 127.0.0.1.</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;

    public static StallingRelay Start(IPEndPoint target)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(16);
        return new StallingRelay(listener, target);
    }

    /// <summary>From now on nothing more is read from the host: its writes pile up and then block.</summary>
    public void StopReadingFromHost() => _stalled.TrySetResult();

    /// <summary>Closes every relayed socket with RST (linger 0), as a crashed peer's kernel would.</summary>
    public void ResetAll()
    {
        Socket[] sockets;
        lock (_lock)
        {
            sockets = [.. _sockets];
        }
        foreach (var socket in sockets)
        {
            try
            {
                socket.LingerState = new LingerOption(true, 0);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
            }
            socket.Dispose();
        }
    }

    private async Task AcceptLoopAsync()
    {
        try
        {
            while (true)
            {
                Socket client = await _listener.AcceptAsync(_closing.Token);
                var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = SmallReceiveBuffer };
                await upstream.ConnectAsync(_target, _closing.Token);
                lock (_lock)
                {
                    _sockets.Add(client);
                    _sockets.Add(upstream);
                    _pumps.Add(PumpAsync(client, upstream, toClient: false));
                    _pumps.Add(PumpAsync(upstream, client, toClient: true));
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // closing
        }
    }

    private async Task PumpAsync(Socket from, Socket to, bool toClient)
    {
        byte[] buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                if (toClient && _stalled.Task.IsCompleted)
                {
                    await Task.Delay(System.Threading.Timeout.Infinite, _closing.Token); // ends when the relay closes
                }
                int read = await from.ReceiveAsync(buffer, SocketFlags.None, _closing.Token);
                if (read == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }
                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _closing.Token);
                if (toClient)
                {
                    Interlocked.Add(ref _relayedToClient, read);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // reset or closing
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _closing.CancelAsync();
        _listener.Dispose();
        ResetAll();
        Task[] pumps;
        lock (_lock)
        {
            pumps = [.. _pumps];
        }
        await Task.WhenAll([_acceptLoop, .. pumps]).WaitAsync(TimeSpan.FromSeconds(10));
        _closing.Dispose();
    }
}
