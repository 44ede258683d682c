using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using P2PNet.Testing;
using static P2PNet.Proxy.Tests.Inbound.InboundProxyNamespaceLab;

namespace P2PNet.Proxy.Tests.Inbound;

/// <summary>
/// Issue #18's "done when", with real processes in network namespaces (<see cref="InboundProxyNamespaceLab"/>): a public
/// client reaches a service on a VPN member through <c>p2pnet proxy inbound</c>, which joins the VPN in user space and
/// forwards its public sockets there; the teardown cases of the design, the per-source limits, the metrics and the API.
/// </summary>
[Collection(InboundProxyLabGroup.Name)]
public sealed class InboundProxyNamespaceTests(InboundProxyNamespaceLab lab)
{
    private const long BigSize = 256L * 1024 * 1024;

    // Response headers and the page: what the activity may carry beyond the big file's bytes.
    private const long HeaderSlack = 64 * 1024;

    [Fact]
    public async Task TcpGateway_ServesThePage_AndCarries256MiBIntact_AndTheActivityAndVpnMetricsCountThoseBytes()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var ct = cts.Token;
        await using var proxy = await lab.StartProxyAsync(ct);
        int port = proxy.Port(80);
        await proxy.AddGatewayAsync("tcp", port, HttpPort, "web", ct);

        string page = await lab.ExecAsync(lab.Client, Step, ct, "curl", "-sS", "--max-time", "30", $"http://{ProxyIp}:{port}/");
        Assert.Equal(Page.TrimEnd('\n'), page);

        string big = Path.Combine(lab.WebRoot, "big.bin");
        string expected = await WriteSeededFileAsync(big, BigSize, 18, ct);
        try
        {
            string sum = await lab.ExecAsync(lab.Client, TimeSpan.FromMinutes(2), ct, "sh", "-c",
                $"curl -sS --max-time 110 http://{ProxyIp}:{port}/big.bin | sha256sum");
            Assert.Equal(expected, sum.Split(' ')[0]);
        }
        finally
        {
            File.Delete(big);
        }

        // Sent = from the service to the public client: the page, the file and their headers; Received = the two requests.
        foreach (string path in (string[])[$"/status-api/v1/metrics/activity/web/bandwidth", $"/status-api/v1/metrics/vpn/{lab.VpnId}/bandwidth"])
        {
            JsonElement bandwidth = default;
            await Conditions.WaitUntilAsync(async c =>
                {
                    bandwidth = await proxy.GetJsonAsync(path, c);
                    return bandwidth.GetProperty("BytesSent").GetInt64() >= BigSize;
                }, Step, $"{path} did not count the 256 MiB", ct);
            long sent = bandwidth.GetProperty("BytesSent").GetInt64();
            long received = bandwidth.GetProperty("BytesReceived").GetInt64();
            Assert.True(sent <= BigSize + HeaderSlack, $"{path}: {sent} bytes sent for {BigSize} of file: {bandwidth}");
            Assert.InRange(received, 1, 4096);
            Assert.True(bandwidth.GetProperty("RateOut").GetProperty("Max").GetDouble() > 0, bandwidth.ToString());
        }
    }

    [Fact]
    public async Task UdpGateway_EchoesTheClientsDatagram_AndTheTcpAndUdpProbesAnswerTheirTokens()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var ct = cts.Token;
        await using var proxy = await lab.StartProxyAsync(ct);
        int echoPort = proxy.Port(7);
        await proxy.AddGatewayAsync("udp", echoPort, UdpEchoPort, "udp-echo", ct);
        using var udp = lab.CreateClientUdpSocket();
        var echoEndpoint = new IPEndPoint(IPAddress.Parse(ProxyIp), echoPort);
        Assert.Equal("over the VPN and back", await UdpExchangeAsync(udp, echoEndpoint, "over the VPN and back", ct));

        int tcpProbe = proxy.Port(90);
        var added = await proxy.CliAsync(ct, "probe", "add", "tcp", $"0.0.0.0:{tcpProbe}", "--requestor", "alice", "--token", "tcp-token");
        Assert.True(added.Succeeded, added.ToString());
        Assert.Contains($"PROBE tcp/0.0.0.0:{tcpProbe}", added.Stdout, StringComparison.Ordinal);
        string token = await lab.ExecAsync(lab.Client, Step, ct, "curl", "-sS", "--max-time", "30", $"http://{ProxyIp}:{tcpProbe}/?RequestorId=alice");
        Assert.Equal("tcp-token", token.Trim());
        string unknown = await lab.ExecAsync(lab.Client, Step, ct, "curl", "-s", "--max-time", "30", "-o", "/dev/null", "-w", "%{http_code}",
            $"http://{ProxyIp}:{tcpProbe}/?RequestorId=mallory");
        Assert.Equal("404", unknown.Trim());

        int udpProbe = proxy.Port(91);
        added = await proxy.CliAsync(ct, "probe", "add", "udp", $"0.0.0.0:{udpProbe}", "--requestor", "alice", "--token", "udp-token");
        Assert.True(added.Succeeded, added.ToString());
        Assert.Equal("udp-token", await UdpExchangeAsync(udp, new IPEndPoint(IPAddress.Parse(ProxyIp), udpProbe), "alice", ct));
    }

    [Fact]
    public async Task ClientHalfClosesAfterItsRequest_AndStillReceivesTheServicesWholeReply()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var ct = cts.Token;
        await using var proxy = await lab.StartProxyAsync(ct);
        await proxy.AddGatewayAsync("tcp", proxy.Port(81), ReplyAtEndPort, "half-close", ct);

        using var client = await lab.ConnectFromClientAsync(proxy.Port(81), ct);
        byte[] request = RandomNumberGenerator.GetBytes(100 * 1024);
        await SendAllAsync(client, request, ct);
        client.Shutdown(SocketShutdown.Send);
        // The service answers only after the end of the request: the reply crosses a connection the client half-closed.
        string reply = Encoding.ASCII.GetString(await ReadToEndAsync(client, ct));
        string line = $"GOT {request.Length} {Convert.ToHexStringLower(SHA256.HashData(request))}\n";
        Assert.Equal(1000 * line.Length, reply.Length);
        Assert.Equal(string.Concat(Enumerable.Repeat(line, 1000)), reply);
        await WaitForActiveAsync(proxy, 0, ct);
    }

    [Fact]
    public async Task ClientConnectsAndLeavesWithoutARequest_AndTheConnectionLeavesTheMetrics()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var ct = cts.Token;
        await using var proxy = await lab.StartProxyAsync(ct);
        await proxy.AddGatewayAsync("tcp", proxy.Port(83), TcpEchoPort, "leaver", ct);

        var client = await lab.ConnectFromClientAsync(proxy.Port(83), ct);
        await WaitForActiveAsync(proxy, 1, ct);
        client.Dispose();
        await WaitForActiveAsync(proxy, 0, ct);
        var connections = await proxy.ConnectionsAsync(ct);
        Assert.Equal(1, connections.GetProperty("Accepted").GetInt64());
        Assert.Equal(0, connections.GetProperty("Refused").GetInt64());
    }

    [Fact]
    public async Task ServiceClosesFirst_AndTheClientReadsItsLastWordsThenTheEndOfStream()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var ct = cts.Token;
        await using var proxy = await lab.StartProxyAsync(ct);
        await proxy.AddGatewayAsync("tcp", proxy.Port(82), ClosingPort, "closer", ct);

        using var client = await lab.ConnectFromClientAsync(proxy.Port(82), ct);
        // An end of stream, not a reset: ReadToEndAsync throws on a reset.
        Assert.Equal("BYE\n", Encoding.ASCII.GetString(await ReadToEndAsync(client, ct)));
        client.Shutdown(SocketShutdown.Send);
        await WaitForActiveAsync(proxy, 0, ct);
    }

    [Fact]
    public async Task IdleConnection_IsClosedByTheProxyAfterTheIdleTimeout_WhileABusyOneStaysOpen()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var ct = cts.Token;
        await using var proxy = await lab.StartProxyAsync(ct, "--idle-timeout", "2");
        await proxy.AddGatewayAsync("tcp", proxy.Port(83), TcpEchoPort, "idle", ct);

        using var idle = await lab.ConnectFromClientAsync(proxy.Port(83), ct);
        using var busy = await lab.ConnectFromClientAsync(proxy.Port(83), ct);
        Assert.True(await TryEchoAsync(idle, ct));
        var quiet = Stopwatch.StartNew();
        var idleEnd = Task.Run(async () =>
        {
            int bytes = await ReadToEndOrResetAsync(idle, ct);
            return (Bytes: bytes, After: quiet.Elapsed);
        }, ct);

        // The busy one talks every 250 ms (traffic, not a wait) for 4 s: twice the timeout.
        using var pace = new PeriodicTimer(TimeSpan.FromMilliseconds(250));
        while (quiet.Elapsed < TimeSpan.FromSeconds(4))
        {
            Assert.True(await TryEchoAsync(busy, ct), $"the busy connection was closed after {quiet.Elapsed}");
            await pace.WaitForNextTickAsync(ct);
        }

        Assert.True(idleEnd.IsCompleted, "the idle connection was still open after twice the idle timeout");
        var (bytes, after) = await idleEnd;
        Assert.Equal(0, bytes);
        Assert.True(after >= TimeSpan.FromSeconds(1.5), $"closed after {after}, before the 2 s idle timeout");
        await WaitForActiveAsync(proxy, 1, ct);
    }

    [Fact]
    public async Task FifthConcurrentConnectionFromOneAddress_IsResetAndCountedRefused_WhileOtherAddressesStillConnect()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var ct = cts.Token;
        await using var proxy = await lab.StartProxyAsync(ct, "--max-connections-per-source", "4");
        int port = proxy.Port(83);
        await proxy.AddGatewayAsync("tcp", port, TcpEchoPort, "flood", ct);

        var open = new List<Socket>();
        try
        {
            for (int i = 0; i < 4; i++)
            {
                open.Add(await lab.ConnectFromClientAsync(port, ct));
                Assert.True(await TryEchoAsync(open[i], ct), $"connection {i + 1} of 4 was not carried");
            }

            using (var fifth = await lab.ConnectFromClientAsync(port, ct))
            {
                Assert.False(await TryEchoAsync(fifth, ct), "the fifth concurrent connection from one address was carried");
            }

            await Conditions.WaitUntilAsync(async c => (await proxy.ConnectionsAsync(c)).GetProperty("Refused").GetInt64() == 1, Step,
                "the fifth connection was not counted refused", ct);
            using var other = await lab.ConnectFromClientAsync(port, ct, SecondClientIp);
            Assert.True(await TryEchoAsync(other, ct), "a connection from another address was refused");

            // One leaves: the address may open one more.
            open[0].Dispose();
            open.RemoveAt(0);
            await WaitForActiveAsync(proxy, 4, ct);
            open.Add(await lab.ConnectFromClientAsync(port, ct));
            Assert.True(await TryEchoAsync(open[^1], ct), "a connection within the limit again was refused");
            var connections = await proxy.ConnectionsAsync(ct);
            Assert.Equal(1, connections.GetProperty("Refused").GetInt64());
            Assert.Equal(0, connections.GetProperty("RateLimited").GetInt64());
        }
        finally
        {
            foreach (var socket in open)
            {
                socket.Dispose();
            }
        }
    }

    [Fact]
    public async Task ConnectionsBeyondTheRatePerSource_AreResetAndCountedRateLimited()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var ct = cts.Token;
        await using var proxy = await lab.StartProxyAsync(ct, "--connection-rate-per-source", "5");
        int port = proxy.Port(83);
        await proxy.AddGatewayAsync("tcp", port, TcpEchoPort, "rate", ct);

        // 20 connects from one address in a burst (the kernel completes each handshake at once), then a try on each.
        var burst = new List<Socket>();
        try
        {
            for (int i = 0; i < 20; i++)
            {
                burst.Add(await lab.ConnectFromClientAsync(port, ct));
            }

            int carried = 0;
            foreach (var socket in burst)
            {
                carried += await TryEchoAsync(socket, ct) ? 1 : 0;
            }

            int limited = burst.Count - carried;
            Assert.True(carried >= 5, $"only {carried} of 20 were carried at 5 a second");
            Assert.True(limited >= 10, $"{limited} of 20 connections in a burst were limited at 5 a second");
            await Conditions.WaitUntilAsync(async c => (await proxy.ConnectionsAsync(c)).GetProperty("RateLimited").GetInt64() == limited, Step,
                $"RateLimited did not reach the {limited} connections the client saw reset", ct);
            using var other = await lab.ConnectFromClientAsync(port, ct, SecondClientIp);
            Assert.True(await TryEchoAsync(other, ct), "a connection from another address was rate limited");
            Assert.Equal(0, (await proxy.ConnectionsAsync(ct)).GetProperty("Refused").GetInt64());
        }
        finally
        {
            foreach (var socket in burst)
            {
                socket.Dispose();
            }
        }
    }

    private static async Task WaitForActiveAsync(InboundProxyNode proxy, long active, CancellationToken ct)
    {
        JsonElement connections = default;
        await Conditions.WaitUntilAsync(async c =>
            {
                connections = await proxy.ConnectionsAsync(c);
                return connections.GetProperty("Active").GetInt64() == active;
            }, Step, $"Connections.Active did not become {active}", ct);
    }

    /// <summary>Writes <paramref name="length"/> bytes of a seeded sequence and returns their SHA-256 (hex).</summary>
    private static async Task<string> WriteSeededFileAsync(string path, long length, int seed, CancellationToken ct)
    {
        var random = new Random(seed);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] block = new byte[1024 * 1024];
        await using var file = File.Create(path);
        for (long written = 0; written < length; written += block.Length)
        {
            random.NextBytes(block);
            hash.AppendData(block);
            await file.WriteAsync(block, ct);
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>Sends <paramref name="text"/> and returns the first datagram back; resends (UDP may lose one) every 2 s.</summary>
    private static async Task<string> UdpExchangeAsync(Socket socket, IPEndPoint to, string text, CancellationToken ct)
    {
        byte[] buffer = new byte[2048];
        for (int attempt = 1; ; attempt++)
        {
            await socket.SendToAsync(Encoding.UTF8.GetBytes(text), to, ct);
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
            wait.CancelAfter(TimeSpan.FromSeconds(2));
            try
            {
                var received = await socket.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0), wait.Token);
                return Encoding.UTF8.GetString(buffer, 0, received.ReceivedBytes);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested && attempt < 10)
            {
                // lost or not forwarded yet: again
            }
        }
    }

    /// <summary>True if a line sent on <paramref name="socket"/> comes back; false if the connection is reset or closed instead.</summary>
    private static async Task<bool> TryEchoAsync(Socket socket, CancellationToken ct)
    {
        byte[] line = Encoding.ASCII.GetBytes("are you there?\n");
        byte[] buffer = new byte[line.Length];
        try
        {
            await SendAllAsync(socket, line, ct);
            int read = 0;
            while (read < buffer.Length)
            {
                int n = await socket.ReceiveAsync(buffer.AsMemory(read), ct).AsTask().WaitAsync(Step, ct);
                if (n == 0)
                {
                    return false;
                }

                read += n;
            }

            return buffer.AsSpan().SequenceEqual(line);
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static async Task SendAllAsync(Socket socket, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        while (!data.IsEmpty)
        {
            int sent = await socket.SendAsync(data, ct).AsTask().WaitAsync(Step, ct);
            data = data[sent..];
        }
    }

    /// <summary>Everything until the end of stream (a reset throws <see cref="SocketException"/>).</summary>
    private static async Task<byte[]> ReadToEndAsync(Socket socket, CancellationToken ct)
    {
        using var received = new MemoryStream();
        byte[] buffer = new byte[64 * 1024];
        while (await socket.ReceiveAsync(buffer, ct).AsTask().WaitAsync(Step, ct) is var n and > 0)
        {
            received.Write(buffer, 0, n);
        }

        return received.ToArray();
    }

    /// <summary>Reads until the connection ends and returns the bytes read: an end of stream and a reset both end it.</summary>
    private static async Task<int> ReadToEndOrResetAsync(Socket socket, CancellationToken ct)
    {
        try
        {
            return (await ReadToEndAsync(socket, ct)).Length;
        }
        catch (SocketException)
        {
            return 0;
        }
    }
}
