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

            using (var fifth = await ConnectOrResetAsync(port, ct))
            {
                Assert.False(fifth is not null && await TryEchoAsync(fifth, ct), "the fifth concurrent connection from one address was carried");
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

        // 20 connects from one address in a burst (the kernel completes each handshake at once), then a try on each;
        // the proxy's reset can come so fast that the connect itself reports it.
        const int Burst = 20;
        var burst = new List<Socket>();
        try
        {
            int resetAtConnect = 0;
            for (int i = 0; i < Burst; i++)
            {
                if (await ConnectOrResetAsync(port, ct) is { } socket)
                {
                    burst.Add(socket);
                }
                else
                {
                    resetAtConnect++;
                }
            }

            int carried = 0;
            foreach (var socket in burst)
            {
                carried += await TryEchoAsync(socket, ct) ? 1 : 0;
            }

            int limited = Burst - carried;
            Assert.True(carried >= 5, $"only {carried} of {Burst} were carried at 5 a second ({resetAtConnect} reset while connecting)");
            Assert.True(limited >= 5, $"only {limited} of {Burst} connections in a burst were limited at 5 a second");
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

    [Fact]
    public async Task RestApi_FromTheProxyNamespace_CreatesListsAndRemovesSockets_AndAnswers409ForATakenAddress_404ForAnUnknownOne_400ForBadInput()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var ct = cts.Token;
        await using var proxy = await lab.StartProxyAsync(ct);
        var status = await proxy.GetJsonAsync("/status-api/v1/status", ct);
        Assert.Equal(0, status.GetProperty("GatewaySockets").GetInt32());
        Assert.Equal(0, status.GetProperty("ProbeSockets").GetInt32());
        var vpn = Assert.Single(status.GetProperty("Vpns").EnumerateArray());
        Assert.Equal(lab.VpnId, vpn.GetProperty("VpnId").GetString());
        Assert.Equal(ProxyVpnIp(proxy.Index), vpn.GetProperty("Address").GetString());

        int port = proxy.Port(80);
        string gateway = $"/gateway-api/v1/tcp/0.0.0.0:{port}";
        string entry = JsonSerializer.Serialize(new
        {
            RequestorId = "rest",
            ActivityId = "rest-web",
            VpnId = lab.VpnId,
            RemoteId = lab.ServicePeerId,
            RemoteAddr = $"{ServiceVpnIp}:{HttpPort}",
        });
        var (created, createdBody) = await proxy.RequestAsync("POST", gateway, ct, entry);
        Assert.True(created == 201, $"POST {gateway}: {created} {createdBody}");
        Assert.Equal("rest-web", JsonDocument.Parse(createdBody).RootElement.GetProperty("ActivityId").GetString());
        string page = await lab.ExecAsync(lab.Client, Step, ct, "curl", "-sS", "--max-time", "30", $"http://{ProxyIp}:{port}/");
        Assert.Equal(Page.TrimEnd('\n'), page);

        var (again, againBody) = await proxy.RequestAsync("POST", gateway, ct, entry);
        Assert.True(again == 409, $"second POST {gateway}: {again} {againBody}");
        Assert.Equal(409, JsonDocument.Parse(againBody).RootElement.GetProperty("status").GetInt32());
        var list = await proxy.GetJsonAsync("/gateway-api/v1/", ct);
        Assert.Equal($"{ServiceVpnIp}:{HttpPort}", list.GetProperty($"tcp/0.0.0.0:{port}").GetProperty("RemoteAddr").GetString());
        Assert.Equal("rest", (await proxy.GetJsonAsync(gateway, ct)).GetProperty("RequestorId").GetString());
        Assert.Equal(404, (await proxy.RequestAsync("GET", $"/gateway-api/v1/tcp/0.0.0.0:{proxy.Port(99)}", ct)).Status);
        Assert.Equal(404, (await proxy.RequestAsync("DELETE", $"/gateway-api/v1/udp/0.0.0.0:{proxy.Port(99)}", ct)).Status);

        // Bad input: not JSON, an unknown VPN, a remote address that is no IP:PORT, a protocol that is neither tcp nor udp.
        string other = $"/gateway-api/v1/tcp/0.0.0.0:{proxy.Port(81)}";
        Assert.Equal(400, (await proxy.RequestAsync("POST", other, ct, "{not json")).Status);
        Assert.Equal(400, (await proxy.RequestAsync("POST", other, ct, entry.Replace(lab.VpnId, "00112233445566778899aabbccddeeff", StringComparison.Ordinal))).Status);
        Assert.Equal(400, (await proxy.RequestAsync("POST", other, ct, entry.Replace($"{ServiceVpnIp}:{HttpPort}", "nowhere", StringComparison.Ordinal))).Status);
        Assert.Equal(400, (await proxy.RequestAsync("POST", $"/gateway-api/v1/sctp/0.0.0.0:{proxy.Port(81)}", ct, entry)).Status);

        string probe = $"/probe-api/v1/tcp/0.0.0.0:{proxy.Port(90)}";
        var (probed, probedBody) = await proxy.RequestAsync("PUT", probe, ct, """{"RequestorId":"alice","Token":"rest-token"}""");
        Assert.True(probed == 201, $"PUT {probe}: {probed} {probedBody}");
        Assert.Equal("rest-token", (await proxy.GetJsonAsync(probe + "/alice", ct)).GetString());
        Assert.Equal(404, (await proxy.RequestAsync("GET", probe + "/bob", ct)).Status);
        status = await proxy.GetJsonAsync("/status-api/v1/status", ct);
        Assert.Equal(1, status.GetProperty("GatewaySockets").GetInt32());
        Assert.Equal(1, status.GetProperty("ProbeSockets").GetInt32());

        Assert.Equal(204, (await proxy.RequestAsync("DELETE", gateway, ct)).Status);
        Assert.Equal(204, (await proxy.RequestAsync("DELETE", probe + "/alice", ct)).Status);
        Assert.Equal(404, (await proxy.RequestAsync("GET", gateway, ct)).Status);
        status = await proxy.GetJsonAsync("/status-api/v1/status", ct);
        Assert.Equal(0, status.GetProperty("GatewaySockets").GetInt32());
        Assert.Equal(0, status.GetProperty("ProbeSockets").GetInt32());
        var refused = await lab.RunAsync(lab.Client, Step, ct, "curl", "-sS", "--max-time", "10", $"http://{ProxyIp}:{port}/");
        Assert.True(refused.ExitCode != 0, $"the removed gateway still answered: {refused}");

        var metrics = await proxy.GetJsonAsync("/status-api/v1/metrics", ct);
        Assert.True(metrics.GetProperty("Bandwidth").GetProperty("BytesSent").GetInt64() > Page.Length);
        Assert.True(metrics.GetProperty("Connections").GetProperty("Accepted").GetInt64() >= 1);
        var activity = await proxy.GetJsonAsync("/status-api/v1/metrics/activity/rest-web", ct);
        Assert.True(activity.GetProperty("Bandwidth").GetProperty("BytesSent").GetInt64() > Page.Length);
    }

    [Fact]
    public async Task CliClientCommands_AddGetListAndRemoveGatewaysAndProbes_PrintStatusAndMetrics_AndFailWithTheServersProblem()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var ct = cts.Token;
        await using var proxy = await lab.StartProxyAsync(ct, "--api-token", "s3cret");
        int port = proxy.Port(80);
        string address = $"0.0.0.0:{port}";
        string[] entry = ["--requestor", "cli", "--activity", "cli-web", "--vpn", lab.VpnId, "--remote-id", lab.ServicePeerId,
            "--remote-addr", $"{ServiceVpnIp}:{HttpPort}"];

        // Without the token the API refuses, and the CLI says so.
        var unauthorized = await lab.CliAsync(ct, "proxy", "status", "--api", proxy.Api);
        Assert.True(unauthorized.ExitCode != 0, unauthorized.ToString());
        Assert.Contains("401", unauthorized.Stderr, StringComparison.Ordinal);

        var added = await Cli(ct, ["gateway", "add", "tcp", address, .. entry]);
        Assert.Equal($"GATEWAY tcp/{address}", added.Stdout.Trim());
        var duplicate = await lab.CliAsync(ct, ["proxy", "gateway", "add", "tcp", address, .. entry, "--api", proxy.Api, "--api-token", "s3cret"]);
        Assert.True(duplicate.ExitCode != 0, duplicate.ToString());
        Assert.Contains("409", duplicate.Stderr, StringComparison.Ordinal);
        var unknownVpn = await lab.CliAsync(ct, ["proxy", "gateway", "add", "tcp", $"0.0.0.0:{proxy.Port(81)}",
            .. entry.Select(a => a == lab.VpnId ? "00112233445566778899aabbccddeeff" : a), "--api", proxy.Api, "--api-token", "s3cret"]);
        Assert.True(unknownVpn.ExitCode != 0, unknownVpn.ToString());
        Assert.Contains("400", unknownVpn.Stderr, StringComparison.Ordinal);

        string page = await lab.ExecAsync(lab.Client, Step, ct, "curl", "-sS", "--max-time", "30", $"http://{ProxyIp}:{port}/");
        Assert.Equal(Page.TrimEnd('\n'), page);

        using (var list = JsonDocument.Parse((await Cli(ct, "gateway", "list")).Stdout))
        {
            Assert.Equal("cli-web", list.RootElement.GetProperty($"tcp/{address}").GetProperty("ActivityId").GetString());
        }
        using (var got = JsonDocument.Parse((await Cli(ct, "gateway", "get", "tcp", address)).Stdout))
        {
            Assert.Equal(lab.ServicePeerId, got.RootElement.GetProperty("RemoteId").GetString());
        }

        string probeAddress = $"0.0.0.0:{proxy.Port(91)}";
        Assert.Equal($"PROBE udp/{probeAddress}", (await Cli(ct, "probe", "add", "udp", probeAddress, "--requestor", "bob", "--token", "cli-token")).Stdout.Trim());
        Assert.Contains("cli-token", (await Cli(ct, "probe", "get", "udp", probeAddress, "--requestor", "bob")).Stdout, StringComparison.Ordinal);
        Assert.Contains(probeAddress, (await Cli(ct, "probe", "list")).Stdout, StringComparison.Ordinal);

        var statusRun = await Cli(ct, "status");
        Assert.Single(statusRun.StdoutLines);
        using (var status = JsonDocument.Parse(statusRun.Stdout))
        {
            Assert.Equal(1, status.RootElement.GetProperty("GatewaySockets").GetInt32());
            Assert.Equal(1, status.RootElement.GetProperty("ProbeSockets").GetInt32());
            Assert.Equal(lab.VpnId, status.RootElement.GetProperty("Vpns")[0].GetProperty("VpnId").GetString());
        }

        using (var metrics = JsonDocument.Parse((await Cli(ct, "metrics")).Stdout))
        {
            Assert.True(metrics.RootElement.GetProperty("Connections").GetProperty("Accepted").GetInt64() >= 1);
        }
        foreach (string[] scope in (string[][])[["--activity", "cli-web"], ["--vpn", lab.VpnId]])
        {
            var run = await Cli(ct, ["metrics", .. scope, "--bandwidth"]);
            Assert.Single(run.StdoutLines);
            using var bandwidth = JsonDocument.Parse(run.Stdout);
            Assert.True(bandwidth.RootElement.GetProperty("BytesSent").GetInt64() > Page.Length, $"{string.Join(' ', scope)}: {run.Stdout}");
            Assert.True(bandwidth.RootElement.GetProperty("BytesReceived").GetInt64() > 0, $"{string.Join(' ', scope)}: {run.Stdout}");
        }

        Assert.Equal($"REMOVED tcp/{address}", (await Cli(ct, "gateway", "remove", "tcp", address)).Stdout.Trim());
        Assert.Equal($"REMOVED udp/{probeAddress} bob", (await Cli(ct, "probe", "remove", "udp", probeAddress, "--requestor", "bob")).Stdout.Trim());
        var gone = await lab.CliAsync(ct, "proxy", "gateway", "get", "tcp", address, "--api", proxy.Api, "--api-token", "s3cret");
        Assert.True(gone.ExitCode != 0, gone.ToString());
        Assert.Contains("404", gone.Stderr, StringComparison.Ordinal);

        async Task<P2PNet.Testing.Processes.ProcessRunResult> Cli(CancellationToken c, params string[] arguments)
        {
            var run = await proxy.CliAsync(c, [.. arguments, "--api-token", "s3cret"]);
            Assert.True(run.Succeeded, run.ToString());
            return run;
        }
    }

    /// <summary>A connection from <see cref="ClientIp"/>, or null when the proxy reset it so fast that the connect saw it.</summary>
    private async Task<Socket?> ConnectOrResetAsync(int port, CancellationToken ct)
    {
        try
        {
            return await lab.ConnectFromClientAsync(port, ct);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return null;
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
                while (true)
                {
                    // Only the answer from `to`: a late answer to an earlier exchange's resend (another port) may still
                    // be queued on this socket when a loaded machine took longer than a resend's wait.
                    var received = await socket.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0), wait.Token);
                    if (to.Equals(received.RemoteEndPoint))
                    {
                        return Encoding.UTF8.GetString(buffer, 0, received.ReceivedBytes);
                    }
                }
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
