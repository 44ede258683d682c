using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Proxy.Tunnels;

namespace P2PNet.Proxy.Tests.Tunnels;

/// <summary>
/// A tunnel server and devices on loopback, in this process, with real libp2p hosts, real sockets and a real SQLite
/// file: a server host, its token database, and <see cref="AddDeviceAsync"/> for devices exposing local services.
/// </summary>
internal sealed class TunnelLab : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private readonly List<IAsyncDisposable> _owned = [];
    private readonly string _directory = Directory.CreateTempSubdirectory("p2pnet-tunnel-").FullName;

    private TunnelLab()
    {
        // A random window of the ephemeral-free range, so parallel test classes (and other programs) rarely meet; the
        // server skips any port the OS refuses anyway.
        FirstPort = RandomNumberGenerator.GetInt32(2000, 3200) * 10;
    }

    public int FirstPort { get; }

    public string DatabasePath => Path.Combine(_directory, "tunnels.db");

    public TunnelTokenStore Store { get; private set; } = null!;

    public P2PHost ServerHost { get; private set; } = null!;

    public TunnelServer Server { get; private set; } = null!;

    public TunnelServerOptions ServerOptions { get; private set; } = null!;

    public Multiaddr ServerAddress => ServerHost.ListenAddresses[0].GetPeerId() is null
        ? Multiaddr.Parse($"{ServerHost.ListenAddresses[0]}/p2p/{ServerHost.PeerId}")
        : ServerHost.ListenAddresses[0];

    public static async Task<TunnelLab> StartAsync(Action<TunnelServerOptions>? configure = null, TimeProvider? time = null, int ports = 8)
    {
        var lab = new TunnelLab();
        lab.Store = TunnelTokenStore.Open(lab.DatabasePath);
        lab.ServerOptions = new TunnelServerOptions
        {
            PublicHost = "127.0.0.1",
            BindAddress = IPAddress.Loopback,
            FirstPort = lab.FirstPort,
            LastPort = lab.FirstPort + ports - 1,
            HttpEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            HttpsEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            Domain = "example.test",
            StatusInterval = TimeSpan.FromMilliseconds(200),
        };
        configure?.Invoke(lab.ServerOptions);
        await lab.StartServerAsync(time);
        return lab;
    }

    /// <summary>Starts (or restarts, with a new host on the same identity) the server.</summary>
    public async Task StartServerAsync(TimeProvider? time = null, Crypto.PrivateKey? identity = null, Multiaddr? listen = null)
    {
        ServerHost = new P2PHost(new P2PHostOptions { Identity = identity });
        Server = new TunnelServer(ServerHost, Store, ServerOptions, timeProvider: time);
        await Server.StartAsync();
        await ServerHost.StartAsync();
        await ServerHost.ListenAsync(listen ?? Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
    }

    /// <summary>Stops the server and its host (the devices see their connection drop).</summary>
    public async Task StopServerAsync()
    {
        await Server.DisposeAsync();
        await ServerHost.DisposeAsync();
    }

    public async Task<(TunnelDevice Device, P2PHost Host)> AddDeviceAsync(string token, IEnumerable<TunnelServiceSpec> services,
        Action<TunnelDeviceOptions>? configure = null, P2PHost? host = null)
    {
        host ??= Own(new P2PHost());
        var options = new TunnelDeviceOptions { Server = ServerAddress, Token = token };
        foreach (var service in services)
        {
            options.Services.Add(service);
        }
        configure?.Invoke(options);
        var device = Own(new TunnelDevice(host, options));
        using var cts = new CancellationTokenSource(Timeout);
        await device.StartAsync(cts.Token);
        return (device, host);
    }

    public T Own<T>(T disposable)
        where T : IAsyncDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    /// <summary>Connects to a public TCP port of the server.</summary>
    public static async Task<Socket> ConnectAsync(int port, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cancellationToken);
        return socket;
    }

    public async ValueTask DisposeAsync()
    {
        for (int i = _owned.Count - 1; i >= 0; i--)
        {
            await _owned[i].DisposeAsync();
        }
        await Server.DisposeAsync();
        await ServerHost.DisposeAsync();
        Store.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A TCP echo server on loopback that also reports when a client half-closes (FIN) and echoes a trailer then.</summary>
internal sealed class TcpEchoServer : IAsyncDisposable
{
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accept;
    private readonly List<Task> _clients = [];

    public TcpEchoServer(byte[]? trailerOnFin = null)
    {
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(512);
        TrailerOnFin = trailerOnFin;
        _accept = AcceptAsync();
    }

    public byte[]? TrailerOnFin { get; }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    public int Accepted => Volatile.Read(ref _accepted);

    private int _accepted;

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var socket = await _listener.AcceptAsync(_stop.Token);
                Interlocked.Increment(ref _accepted);
                lock (_clients)
                {
                    _clients.Add(EchoAsync(socket));
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task EchoAsync(Socket socket)
    {
        using (socket)
        {
            var buffer = new byte[64 * 1024];
            try
            {
                while (true)
                {
                    int read = await socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                    if (read == 0)
                    {
                        break;
                    }
                    await socket.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stop.Token);
                }
                if (TrailerOnFin is { } trailer)
                {
                    await socket.SendAsync(trailer, SocketFlags.None, _stop.Token);
                }
                socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _accept;
        Task[] clients;
        lock (_clients)
        {
            clients = [.. _clients];
        }
        await Task.WhenAll(clients).WaitAsync(TimeSpan.FromSeconds(10));
    }
}

internal static class SocketTestExtensions
{
    /// <summary>Reads until the peer ends its side (FIN) and returns everything read.</summary>
    public static async Task<byte[]> ReadToEndAsync(this Socket socket, CancellationToken cancellationToken)
    {
        var all = new MemoryStream();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            int read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
            if (read == 0)
            {
                return all.ToArray();
            }
            all.Write(buffer, 0, read);
        }
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes (fails if the peer ends first).</summary>
    public static async Task<byte[]> ReadExactlyAsync(this Socket socket, int count, CancellationToken cancellationToken)
    {
        var buffer = new byte[count];
        int filled = 0;
        while (filled < count)
        {
            int read = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, cancellationToken);
            if (read == 0)
            {
                throw new EndOfStreamException($"the connection ended after {filled} of {count} bytes");
            }
            filled += read;
        }
        return buffer;
    }

    /// <summary>Waits until <paramref name="condition"/> holds, polling; fails after <paramref name="timeout"/>.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (!condition())
        {
            try
            {
                await Task.Delay(20, cts.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"timed out after {timeout.TotalSeconds:0} s waiting for {what}");
            }
        }
    }
}
