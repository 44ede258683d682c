using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using P2PNet.Proxy.Tunnels;

namespace P2PNet.Proxy.Tests.Tunnels;

/// <summary>The HTTP front (routing by Host, keep-alive, WebSocket upgrades) and the TLS front (routing by SNI, TLS ending on the device).</summary>
public sealed class TunnelFrontTests
{
    private static readonly TimeSpan Timeout = TunnelLab.Timeout;

    /// <summary>A real Kestrel server on the device: answers GET with its path and echoes WebSocket messages on /ws.</summary>
    private static async Task<WebApplication> StartWebAppAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        app.UseWebSockets();
        app.Map("/ws", async context =>
        {
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            var buffer = new byte[4096];
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, context.RequestAborted);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", context.RequestAborted);
                    return;
                }
                await socket.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, context.RequestAborted);
            }
        });
        app.MapGet("/{**path}", (HttpContext c) => $"device says {c.Request.Path} for {c.Request.Host}");
        await app.StartAsync();
        return app;
    }

    private static IPEndPoint BoundEndPoint(WebApplication app) =>
        IPEndPoint.Parse(new Uri(app.Urls.First()).Authority.Replace("localhost", "127.0.0.1", StringComparison.Ordinal));

    /// <summary>A handler whose every connection goes to <paramref name="front"/> whatever the URL's host, like DNS pointing there.</summary>
    private static SocketsHttpHandler ResolveTo(IPEndPoint front, Action<int>? onConnect = null) => new()
    {
        ConnectCallback = async (context, ct) =>
        {
            onConnect?.Invoke(1);
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(front, ct);
            return new NetworkStream(socket, ownsSocket: true);
        },
        MaxConnectionsPerServer = 1,
    };

    [Fact]
    public async Task HttpFront_RoutesByHostHeader_KeepsTheConnectionAlive_AndAnswersUnknownNamesWith404()
    {
        await using var lab = await TunnelLab.StartAsync();
        await using var app = await StartWebAppAsync();
        await lab.AddDeviceAsync(lab.Store.CreateToken("dev1"), [new TunnelServiceSpec("web", TunnelServiceKind.Http, BoundEndPoint(app))]);
        int connections = 0;
        using var client = new HttpClient(ResolveTo(lab.Server.HttpEndPoint!, _ => Interlocked.Increment(ref connections))) { Timeout = Timeout };
        int port = lab.Server.HttpEndPoint!.Port;

        Assert.Equal("device says /one for web.dev1.example.test:" + port, await client.GetStringAsync($"http://web.dev1.example.test:{port}/one"));
        Assert.Equal("device says /two for web.dev1.example.test:" + port, await client.GetStringAsync($"http://web.dev1.example.test:{port}/two"));
        Assert.Equal(1, connections); // Both requests on one kept-alive connection through the tunnel.

        using var unknown = await client.GetAsync($"http://nope.dev1.example.test:{port}/");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        using var otherDevice = await client.GetAsync($"http://web.dev2.example.test:{port}/");
        Assert.Equal(HttpStatusCode.NotFound, otherDevice.StatusCode);
    }

    [Fact]
    public async Task HttpFront_PassesWebSocketUpgradesThrough()
    {
        await using var lab = await TunnelLab.StartAsync();
        await using var app = await StartWebAppAsync();
        await lab.AddDeviceAsync(lab.Store.CreateToken("dev1"), [new TunnelServiceSpec("web", TunnelServiceKind.Http, BoundEndPoint(app))]);
        using var invoker = new HttpMessageInvoker(ResolveTo(lab.Server.HttpEndPoint!));
        using var ws = new ClientWebSocket();
        using var cts = new CancellationTokenSource(Timeout);
        await ws.ConnectAsync(new Uri($"ws://web.dev1.example.test:{lab.Server.HttpEndPoint!.Port}/ws"), invoker, cts.Token);
        var buffer = new byte[100];
        foreach (string text in new[] { "first", "second" })
        {
            await ws.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, cts.Token);
            var result = await ws.ReceiveAsync(buffer, cts.Token);
            Assert.Equal(text, Encoding.UTF8.GetString(buffer, 0, result.Count));
        }
        await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", cts.Token);
    }

    [Fact]
    public async Task TlsFront_RoutesBySni_AndTheClientSeesTheDevicesOwnCertificate()
    {
        await using var lab = await TunnelLab.StartAsync();
        using var certificate = SelfSigned("app.dev1.example.test");
        await using var tls = new TlsEchoServer(certificate);
        await lab.AddDeviceAsync(lab.Store.CreateToken("dev1"), [new TunnelServiceSpec("app", TunnelServiceKind.Https, tls.EndPoint)]);

        using var cts = new CancellationTokenSource(Timeout);
        using var socket = await TunnelLab.ConnectAsync(lab.Server.HttpsEndPoint!.Port, cts.Token);
        string? seen = null;
        // The certificate is pinned: the handshake succeeds only with the device's own certificate, so TLS ended on the
        // device (the tunnel server never held a key for it).
        await using var ssl = new SslStream(new NetworkStream(socket), false, (_, cert, _, _) =>
        {
            seen = cert?.GetCertHashString();
            return seen == certificate.Thumbprint;
        });
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "app.dev1.example.test" }, cts.Token);
        Assert.Equal(certificate.Thumbprint, seen);
        await ssl.WriteAsync("over tls"u8.ToArray(), cts.Token);
        var buffer = new byte[8];
        await ssl.ReadExactlyAsync(buffer, cts.Token);
        Assert.Equal("over tls", Encoding.ASCII.GetString(buffer));
    }

    [Fact]
    public async Task TlsFront_UnknownServerName_GetsAnUnrecognizedNameAlert()
    {
        await using var lab = await TunnelLab.StartAsync();
        using var cts = new CancellationTokenSource(Timeout);
        using var socket = await TunnelLab.ConnectAsync(lab.Server.HttpsEndPoint!.Port, cts.Token);
        await socket.SendAsync(ClientHelloBuilder.Build("ghost.dev1.example.test"), SocketFlags.None, cts.Token);
        byte[] answer = await socket.ReadToEndAsync(cts.Token);
        Assert.Equal(new byte[] { 21, 3, 3, 0, 2, 2, 112 }, answer);

        // A real TLS client fails the handshake cleanly too.
        using var again = await TunnelLab.ConnectAsync(lab.Server.HttpsEndPoint!.Port, cts.Token);
        await using var ssl = new SslStream(new NetworkStream(again), false);
        await Assert.ThrowsAnyAsync<Exception>(() => ssl.AuthenticateAsClientAsync(
            new SslClientAuthenticationOptions { TargetHost = "ghost.dev1.example.test" }, cts.Token));
    }

    internal static X509Certificate2 SelfSigned(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        // Round-trip through PKCS#12 so the key is usable by SslStream on every platform.
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pkcs12), null);
    }
}

/// <summary>A TLS server on loopback (the device's own certificate) that echoes what it reads.</summary>
internal sealed class TlsEchoServer : IAsyncDisposable
{
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accept;
    private readonly X509Certificate2 _certificate;

    public TlsEchoServer(X509Certificate2 certificate)
    {
        _certificate = certificate;
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(64);
        _accept = AcceptAsync();
    }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    private async Task AcceptAsync()
    {
        var clients = new List<Task>();
        try
        {
            while (true)
            {
                var socket = await _listener.AcceptAsync(_stop.Token);
                clients.Add(ServeAsync(socket));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
        await Task.WhenAll(clients);
    }

    private async Task ServeAsync(Socket socket)
    {
        try
        {
            await using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: true));
            await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _certificate }, _stop.Token);
            var buffer = new byte[16 * 1024];
            int read;
            while ((read = await ssl.ReadAsync(buffer, _stop.Token)) > 0)
            {
                await ssl.WriteAsync(buffer.AsMemory(0, read), _stop.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or AuthenticationException or SocketException or ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _accept.WaitAsync(TimeSpan.FromSeconds(10));
    }
}
