using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using P2PNet.Multiformats;
using P2PNet.Transports;
using P2PNet.Transports.WebSockets;

namespace P2PNet.Core.Tests.WebSockets;

/// <summary>The listener's limits on the HTTP upgrade: its size (431) and its duration (the configured timeout, not the default).</summary>
public sealed class WebSocketUpgradeLimitTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);

    private static async Task<(ITransportListener Listener, IPEndPoint EndPoint)> ListenAsync(WebSocketTransport transport)
    {
        var listener = await transport.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0/ws"), CancellationToken.None).AsTask().WaitAsync(Step);
        Assert.True(listener.LocalAddress.WithoutPeerId().Decapsulate(MultiaddrProtocol.Ws).TryGetTcpEndPoint(out var endPoint));
        return (listener, endPoint);
    }

    /// <summary>Reads until the server closes; returns what it sent (a reset counts as closed).</summary>
    private static async Task<string> ReadUntilClosedAsync(Stream stream)
    {
        var received = new MemoryStream();
        var buffer = new byte[1024];
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer).ConfigureAwait(false)) > 0)
            {
                received.Write(buffer, 0, n);
            }
        }
        catch (IOException)
        {
        }
        return Encoding.ASCII.GetString(received.ToArray());
    }

    [Fact]
    public async Task Listener_UpgradeRequestOverTheSizeLimit_Gets431AndIsClosed()
    {
        var transport = new WebSocketTransport(new WebSocketTransportOptions { MaxUpgradeRequestSize = 1024 });
        var (listener, endPoint) = await ListenAsync(transport);
        await using (listener)
        {
            using var client = new TcpClient();
            await client.ConnectAsync(endPoint).WaitAsync(Step);
            var stream = client.GetStream();
            // A head that never ends: 4 KiB of headers without the blank line.
            var head = new StringBuilder("GET / HTTP/1.1\r\nHost: x\r\n");
            while (head.Length < 4096)
            {
                head.Append("X-Filler: ").Append('a', 100).Append("\r\n");
            }
            try
            {
                await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString())).AsTask().WaitAsync(Step);
            }
            catch (IOException)
            {
                // the server may close while we still write; its answer is already in our receive buffer
            }

            string answer = await ReadUntilClosedAsync(stream).WaitAsync(Step);

            Assert.StartsWith("HTTP/1.1 431", answer, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Listener_UpgradeRequestAtTheSizeLimit_IsAccepted()
    {
        var transport = new WebSocketTransport(new WebSocketTransportOptions { MaxUpgradeRequestSize = 1024 });
        var (listener, _) = await ListenAsync(transport);
        await using (listener)
        {
            var accepting = listener.AcceptAsync(CancellationToken.None).AsTask();
            await using var dialed = await transport.DialAsync(listener.LocalAddress, CancellationToken.None).AsTask().WaitAsync(Step);
            await using var accepted = await accepting.WaitAsync(Step);
        }
    }

    [Fact]
    public async Task Listener_SilentClient_IsClosedAfterTheConfiguredUpgradeTimeout_NotTheDefault()
    {
        var configured = TimeSpan.FromMilliseconds(500);
        var defaultTimeout = new WebSocketTransportOptions().UpgradeTimeout;
        Assert.True(defaultTimeout >= TimeSpan.FromSeconds(6), "the test tells the two limits apart by a wide margin");
        var transport = new WebSocketTransport(new WebSocketTransportOptions { UpgradeTimeout = configured });
        var (listener, endPoint) = await ListenAsync(transport);
        await using (listener)
        {
            using var client = new TcpClient();
            await client.ConnectAsync(endPoint).WaitAsync(Step);
            var connected = Stopwatch.StartNew();
            await client.GetStream().WriteAsync("GET / HTTP/1.1\r\n"u8.ToArray()).AsTask().WaitAsync(Step); // then nothing

            // Bounded well below the default, so a listener that ignored the configured timeout fails here.
            string answer = await ReadUntilClosedAsync(client.GetStream()).WaitAsync(defaultTimeout / 2);

            Assert.Equal("", answer);
            Assert.True(connected.Elapsed >= configured / 2, $"closed after {connected.Elapsed}, before the {configured} limit");
        }
    }
}
