using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using P2PNet.Multiformats;
using P2PNet.Transports.WebSockets;
using P2PNet.Transports.WebSockets.Internal;

namespace P2PNet.Core.Tests.WebSockets;

/// <summary><c>/dns4/…/wss</c> dials against a local TLS WebSocket server with a self-signed certificate.</summary>
public sealed class SecureWebSocketDialTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);

    private static X509Certificate2 CreateCertificate()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>Accepts one TLS WebSocket and echoes every byte it receives until the client closes.</summary>
    private static async Task ServeOneAsync(TcpListener listener, X509Certificate2 certificate, CancellationToken ct)
    {
        using var client = await listener.AcceptTcpClientAsync(ct);
        await using var tls = new SslStream(client.GetStream());
        await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = certificate }, ct);
        byte[] head = new byte[8192];
        int length = 0, end;
        while ((end = WebSocketUpgrade.FindEndOfHead(head.AsSpan(0, length))) < 0)
        {
            int read = await tls.ReadAsync(head.AsMemory(length), ct);
            length += read > 0 ? read : throw new EndOfStreamException("The client closed before its upgrade request.");
        }
        await tls.WriteAsync(WebSocketUpgrade.FormatResponse(WebSocketUpgrade.ParseRequest(head.AsSpan(0, end))), ct);
        using var socket = WebSocket.CreateFromStream(tls, new WebSocketCreationOptions { IsServer = true });
        byte[] buffer = new byte[4096];
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(), ct);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, ct);
                return;
            }
            await socket.SendAsync(buffer.AsMemory(0, result.Count), WebSocketMessageType.Binary, true, ct);
        }
    }

    [Fact]
    public async Task Dial_DnsWss_WithTrustedCertificate_CarriesBytesBothWays()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var certificate = CreateCertificate();
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            int port = ((IPEndPoint)listener.LocalEndpoint).Port;
            var serving = ServeOneAsync(listener, certificate, cts.Token);
            var transport = new WebSocketTransport(new WebSocketTransportOptions
            {
                RemoteCertificateValidation = (_, cert, _, _) => cert is not null && cert.GetCertHashString() == certificate.GetCertHashString(),
            });
            var address = Multiaddr.Parse($"/dns4/localhost/tcp/{port}/wss");
            Assert.True(transport.CanDial(address));
            await using var connection = await transport.DialAsync(address, cts.Token).AsTask().WaitAsync(Step);
            Assert.Equal(address, connection.RemoteAddress);

            await connection.Output.WriteAsync("over tls"u8.ToArray(), cts.Token);
            var read = await connection.Input.ReadAtLeastAsync(8, cts.Token).AsTask().WaitAsync(Step);
            Assert.Equal("over tls", Encoding.ASCII.GetString(System.Buffers.BuffersExtensions.ToArray(read.Buffer.Slice(0, 8))));
            connection.Input.AdvanceTo(read.Buffer.GetPosition(8));
            await connection.Output.CompleteAsync();
            await serving.WaitAsync(Step);
        }
        finally
        {
            listener.Stop();
        }
    }

    [Fact]
    public async Task Dial_Wss_WithUntrustedCertificate_FailsWithIOException()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var certificate = CreateCertificate();
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            int port = ((IPEndPoint)listener.LocalEndpoint).Port;
            var serving = ServeOneAsync(listener, certificate, cts.Token);
            var transport = new WebSocketTransport();
            await Assert.ThrowsAsync<IOException>(() => transport.DialAsync(Multiaddr.Parse($"/dns4/localhost/tcp/{port}/wss"), CancellationToken.None).AsTask()).WaitAsync(Step);
            await cts.CancelAsync(); // the server may still wait for a client that gave up
            await Assert.ThrowsAnyAsync<Exception>(() => serving).WaitAsync(Step);
        }
        finally
        {
            listener.Stop();
        }
    }
}
