using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using P2PNet.Proxy.Inbound;
using P2PNet.Testing;
using static P2PNet.Proxy.Tests.Inbound.InboundProxyHarness;
using static P2PNet.Proxy.Tests.Inbound.InboundTestKit;

namespace P2PNet.Proxy.Tests.Inbound;

/// <summary>The management API end to end: real Kestrel, real public sockets on loopback, the proxy on a VPN member's
/// user-space stack and services on the other member's stack.</summary>
public class InboundProxyApiTests
{
    private const int EchoPort = 7;

    [Fact]
    public async Task ProbeApi_TcpProbe_AnswersTheTokenOverHttp_AndUnbindsWhenTheLastProbeGoes()
    {
        using var cts = new CancellationTokenSource(InboundVpnLab.Timeout);
        await using var h = await StartAsync(cts.Token);
        var address = FreeEndPoint();
        string path = Path("probe-api", "tcp", address);

        using (var put = await h.SendAsync(HttpMethod.Put, path, new JsonObject { ["RequestorId"] = "R1", ["Token"] = "T1" }, cts.Token))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }
        using (var put = await h.SendAsync(HttpMethod.Put, path, new JsonObject { ["RequestorId"] = "R2", ["Token"] = "T2" }, cts.Token))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }
        var all = (await h.GetJsonAsync("/probe-api/v1/", cts.Token)).AsArray();
        var socket = Assert.Single(all)!;
        Assert.Equal("tcp", socket["Protocol"]!.GetValue<string>());
        Assert.Equal(address.ToString(), socket["Address"]!.GetValue<string>());
        Assert.Equal(2, socket["Probes"]!.AsArray().Count);
        Assert.Equal(2, (await h.GetJsonAsync(path, cts.Token)).AsArray().Count);
        Assert.Equal("T2", (await h.GetJsonAsync(path + "/R2", cts.Token)).GetValue<string>());

        // The probe itself: a public HTTP server.
        using var http = new HttpClient { Timeout = InboundVpnLab.Timeout };
        string probeUrl = $"http://{address}/";
        Assert.Equal("T1", await http.GetStringAsync(probeUrl + "?RequestorId=R1", cts.Token));
        using (var unknown = await http.GetAsync(probeUrl + "?RequestorId=nobody", cts.Token))
        {
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        }
        using (var missing = await http.GetAsync(probeUrl, cts.Token))
        {
            Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        }

        using (var delete = await h.SendAsync(HttpMethod.Delete, path + "/R1/T1", null, cts.Token))
        {
            Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        }
        await AssertProblemAsync(await h.SendAsync(HttpMethod.Delete, path + "/R1/T1", null, cts.Token), HttpStatusCode.NotFound, "Token", cts.Token);
        await AssertProblemAsync(await h.Client.GetAsync(path + "/R1", cts.Token), HttpStatusCode.NotFound, "RequestorId", cts.Token);
        Assert.Equal("T2", await http.GetStringAsync(probeUrl + "?RequestorId=R2", cts.Token));
        using (var delete = await h.SendAsync(HttpMethod.Delete, path + "/R2", null, cts.Token))
        {
            Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        }
        // No probe left: the socket is gone.
        await AssertProblemAsync(await h.Client.GetAsync(path, cts.Token), HttpStatusCode.NotFound, "addr", cts.Token);
        Assert.Empty((await h.GetJsonAsync("/probe-api/v1/", cts.Token)).AsArray());
        using var refused = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var error = await Assert.ThrowsAsync<SocketException>(async () => await refused.ConnectAsync(address, cts.Token));
        Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
        Assert.Equal(0, h.Proxy.GetStatus().ProbeSockets);
    }

    [Fact]
    public async Task ProbeApi_UdpProbe_AnswersADatagramWithTheToken_AndIgnoresUnknownIds()
    {
        using var cts = new CancellationTokenSource(InboundVpnLab.Timeout);
        await using var h = await StartAsync(cts.Token);
        var address = FreeEndPoint();
        using (var put = await h.SendAsync(HttpMethod.Put, Path("probe-api", "udp", address), new JsonObject { ["RequestorId"] = "R1", ["Token"] = "udp-token" }, cts.Token))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        // Unknown ids and bytes that are not UTF-8 get no answer; the known id does.
        await client.SendToAsync("nobody"u8.ToArray(), SocketFlags.None, address, cts.Token);
        await client.SendToAsync(new byte[] { 0xff, 0xfe, 0x00 }, SocketFlags.None, address, cts.Token);
        await client.SendToAsync("R1\n"u8.ToArray(), SocketFlags.None, address, cts.Token);
        var buffer = new byte[256];
        var received = await client.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), cts.Token);
        Assert.Equal("udp-token", Encoding.UTF8.GetString(buffer, 0, received.ReceivedBytes));
        Assert.Equal(0, client.Available);
    }

    [Fact]
    public async Task TcpProbe_HostileRequests_GetErrorsOrTimeOut_AndTheProbeKeepsServing()
    {
        using var cts = new CancellationTokenSource(InboundVpnLab.Timeout);
        await using var h = await StartAsync(cts.Token, new InboundProxyOptions { ProbeRequestTimeout = TimeSpan.FromMilliseconds(500) });
        var address = FreeEndPoint();
        await h.Proxy.AddProbeAsync(InboundProtocol.Tcp, address, new InboundProbe("R1", "T1"), cts.Token);

        Assert.StartsWith("HTTP/1.1 431", await ExchangeAsync(address, new string('a', 5000), cts.Token), StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 400", await ExchangeAsync(address, "\u0001garbage\r\n\r\n", cts.Token), StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 405", await ExchangeAsync(address, "POST /?RequestorId=R1 HTTP/1.1\r\n\r\n", cts.Token), StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 404", await ExchangeAsync(address, "GET /other?RequestorId=R1 HTTP/1.1\r\n\r\n", cts.Token), StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 400", await ExchangeAsync(address, "GET /?RequestorId= HTTP/1.1\r\n\r\n", cts.Token), StringComparison.Ordinal);
        // A client that sends half a request and waits is closed after the request timeout, without an answer.
        Assert.Equal("", await ExchangeAsync(address, "GET /?Requ", cts.Token));
        Assert.EndsWith("\r\n\r\nT1", await ExchangeAsync(address, "GET /?RequestorId=R1&x=1 HTTP/1.1\r\nHost: p\r\n\r\n", cts.Token), StringComparison.Ordinal);
    }

    [Fact]
    public async Task GatewayApi_CreatesForwardsListsAndDeletes_WithConflictsAndUnknownsAnswered()
    {
        using var cts = new CancellationTokenSource(InboundVpnLab.Timeout);
        await using var h = await StartAsync(cts.Token);
        await using var service = ServiceRunner.Start(h.Lab.Service, EchoPort, EchoAsync);
        var address = FreeEndPoint();
        string path = Path("gateway-api", "tcp", address);
        // A probe at the address is replaced by the gateway socket.
        await h.Proxy.AddProbeAsync(InboundProtocol.Tcp, address, new InboundProbe("R1", "T1"), cts.Token);

        using (var post = await h.SendAsync(HttpMethod.Post, path, h.Entry(EchoPort), cts.Token))
        {
            Assert.Equal(HttpStatusCode.Created, post.StatusCode);
            Assert.Equal("A1", (await post.Content.ReadFromJsonAsync<JsonNode>(cts.Token))!["ActivityId"]!.GetValue<string>());
        }
        Assert.Empty(h.Proxy.GetProbeSockets());
        await AssertProblemAsync(await h.SendAsync(HttpMethod.Post, path, h.Entry(EchoPort), cts.Token), HttpStatusCode.Conflict, "addr", cts.Token);
        await AssertProblemAsync(await h.SendAsync(HttpMethod.Put, Path("probe-api", "tcp", address),
            new JsonObject { ["RequestorId"] = "R1", ["Token"] = "T1" }, cts.Token), HttpStatusCode.Conflict, "addr", cts.Token);

        var entry = await h.GetJsonAsync(path, cts.Token);
        Assert.Equal(h.Lab.ServicePeerId, entry["RemoteId"]!.GetValue<string>());
        var all = (await h.GetJsonAsync("/gateway-api/v1/", cts.Token)).AsObject();
        Assert.Equal($"{h.Lab.Service.Address}:{EchoPort}", all[$"tcp/{address}"]!["RemoteAddr"]!.GetValue<string>());

        using (var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await client.ConnectAsync(address, cts.Token);
            await AssertEchoesAsync(client, cts.Token);
        }

        using (var delete = await h.SendAsync(HttpMethod.Delete, path, null, cts.Token))
        {
            Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        }
        await AssertProblemAsync(await h.Client.GetAsync(path, cts.Token), HttpStatusCode.NotFound, "addr", cts.Token);
        await AssertProblemAsync(await h.SendAsync(HttpMethod.Delete, path, null, cts.Token), HttpStatusCode.NotFound, "addr", cts.Token);
        Assert.Equal(1, h.Proxy.GetStatus().ActivitiesServed);
        Assert.Equal(0, h.Proxy.GetStatus().GatewaySockets);
    }

    [Fact]
    public async Task GatewayApi_BadInput_IsA400NamingTheField_AndBindsNothing()
    {
        using var cts = new CancellationTokenSource(InboundVpnLab.Timeout);
        await using var h = await StartAsync(cts.Token);
        var address = FreeEndPoint();
        string path = Path("gateway-api", "tcp", address);
        var cases = new (string Path, string Body, string Field)[]
        {
            ($"/gateway-api/v1/sctp/{Uri.EscapeDataString(address.ToString())}", h.Entry(80).ToJsonString(), "proto"),
            ("/gateway-api/v1/tcp/not-an-address", h.Entry(80).ToJsonString(), "addr"),
            ("/gateway-api/v1/tcp/127.0.0.1:0", h.Entry(80).ToJsonString(), "addr"),
            ("/gateway-api/v1/tcp/127.0.0.1:70000", h.Entry(80).ToJsonString(), "addr"),
            (path, "{not json", "body"),
            (path, "null", "body"),
            (path, "{\"RequestorId\":5}", "RequestorId"),
            (path, h.Entry(80).Also(e => e.Remove("RemoteId")).ToJsonString(), "RemoteId"),
            (path, h.Entry(80, remoteId: "12D3KooWnotapeerid").ToJsonString(), "RemoteId"),
            (path, h.Entry(80, vpnId: "0123456789abcdef0123456789abcdef").ToJsonString(), "VpnId"),
            (path, h.Entry(80, remoteAddr: "10.50.0.99:80").ToJsonString(), "RemoteAddr"),
            (path, h.Entry(80, remoteAddr: "10.50.0.1").ToJsonString(), "RemoteAddr"),
            (path, h.Entry(80, activity: "").ToJsonString(), "ActivityId"),
            (path, h.Entry(80, activity: "a\u0000b").ToJsonString(), "ActivityId"),
        };
        foreach (var (target, body, field) in cases)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, target) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            using var response = await h.Client.SendAsync(request, cts.Token);
            await AssertProblemAsync(response, HttpStatusCode.BadRequest, field, cts.Token);
        }
        // A proxy member is not the service's node: RemoteId must own RemoteAddr in the VPN's table.
        await AssertProblemAsync(await h.SendAsync(HttpMethod.Post, path, h.Entry(80, remoteAddr: $"{h.Lab.Proxy.Address}:80"), cts.Token),
            HttpStatusCode.BadRequest, "RemoteAddr", cts.Token);
        using (var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent("x", Encoding.UTF8, "text/plain") })
        {
            await AssertProblemAsync(await h.Client.SendAsync(request, cts.Token), HttpStatusCode.UnsupportedMediaType, "body", cts.Token);
        }
        using (var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(new string(' ', 20_000), Encoding.UTF8, "application/json") })
        {
            using var response = await h.Client.SendAsync(request, cts.Token);
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        }
        // The address is in use by another program: 409, nothing bound.
        using (var squatter = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            squatter.Bind(address);
            squatter.Listen();
            await AssertProblemAsync(await h.SendAsync(HttpMethod.Post, path, h.Entry(EchoPort), cts.Token), HttpStatusCode.Conflict, "addr", cts.Token);
        }
        Assert.Empty(h.Proxy.GetGateways());
        Assert.Equal(0, h.Proxy.GetStatus().GatewaySockets);
    }

    [Fact]
    public async Task StatusApi_MetricsMatchTheBytesMoved_PerActivityVpnAndOverall_AndSoDoTheMeters()
    {
        using var cts = new CancellationTokenSource(InboundVpnLab.Timeout);
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meterFactory = services.GetRequiredService<IMeterFactory>();
        await using var h = await StartAsync(cts.Token, meters: meterFactory);
        await using var service = ServiceRunner.Start(h.Lab.Service, EchoPort, EchoAsync);
        var address = FreeEndPoint();
        await h.Proxy.AddGatewayAsync(InboundProtocol.Tcp, address, new InboundGatewayEntry("R1", "act-1", h.Lab.VpnId, h.Lab.ServicePeerId,
            $"{h.Lab.Service.Address}:{EchoPort}"), cts.Token);
        const int length = 3 * 1024 * 1024 + 17;
        using (var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await client.ConnectAsync(address, cts.Token);
            var send = Task.Run(async () =>
            {
                await SendSeededAsync(client, length, 3, cts.Token);
                client.Shutdown(SocketShutdown.Send);
            }, cts.Token);
            // While it flows, the connection shows in the open ones with its own counters.
            await Conditions.WaitUntilAsync(() => h.Proxy.GetActivityMetrics("act-1").Open.Count == 1, InboundVpnLab.Timeout, "no open connection shown", cts.Token);
            var (_, received) = await ReceiveToEndAsync(client, cts.Token);
            await send;
            Assert.Equal(length, received);
        }
        await Conditions.WaitUntilAsync(() => h.Proxy.GetMetrics().Connections.Active == 0, InboundVpnLab.Timeout, "the connection did not end", cts.Token);

        foreach (string scope in new[] { "/status-api/v1/metrics", "/status-api/v1/metrics/activity/act-1", $"/status-api/v1/metrics/vpn/{h.Lab.VpnId}" })
        {
            var metrics = await h.GetJsonAsync(scope, cts.Token);
            var bandwidth = await h.GetJsonAsync(scope + "/bandwidth", cts.Token);
            foreach (var b in new[] { metrics["Bandwidth"]!, bandwidth })
            {
                Assert.Equal(length, b["BytesReceived"]!.GetValue<long>());
                Assert.Equal(length, b["BytesSent"]!.GetValue<long>());
                Assert.True(b["RateIn"]!["Max"]!.GetValue<double>() > 0, scope);
                Assert.True(b["RateOut"]!["Average"]!.GetValue<double>() > 0, scope);
            }
            Assert.Equal(1, metrics["Connections"]!["Accepted"]!.GetValue<long>());
            Assert.Equal(0, metrics["Connections"]!["Active"]!.GetValue<long>());
            Assert.Empty(metrics["Open"]!.AsArray());
        }
        // The meters report the same figures.
        var observed = new Dictionary<string, double>();
        using (var listener = new MeterListener())
        {
            listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Scope == meterFactory && instrument.Meter.Name == InboundProxy.MeterName)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            };
            void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
            {
                string key = instrument.Name + string.Concat(tags.ToArray().Where(t => t.Key != "vpn.id").Select(t => $" {t.Key}={t.Value}"));
                observed[key] = value;
            }
            listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
            listener.SetMeasurementEventCallback<int>((i, v, t, _) => Record(i, v, t));
            listener.SetMeasurementEventCallback<double>((i, v, t, _) => Record(i, v, t));
            listener.Start();
            listener.RecordObservableInstruments();
        }
        Assert.Equal(length, observed["p2pnet.inbound.bytes direction=in"]);
        Assert.Equal(length, observed["p2pnet.inbound.bytes direction=out"]);
        Assert.Equal(1, observed["p2pnet.inbound.connections outcome=accepted"]);
        Assert.Equal(0, observed["p2pnet.inbound.connections.active"]);
        Assert.Equal(1, observed["p2pnet.inbound.sockets kind=gateway"]);
        Assert.True(observed["p2pnet.inbound.rate direction=out statistic=max"] > 0);

        var status = await h.GetJsonAsync("/status-api/v1/status", cts.Token);
        Assert.Equal(1, status["GatewaySockets"]!.GetValue<int>());
        Assert.Equal(1, status["ActivitiesServed"]!.GetValue<long>());
        Assert.Equal(h.Lab.VpnId, status["Vpns"]![0]!["VpnId"]!.GetValue<string>());
        Assert.True(status["UptimeSeconds"]!.GetValue<double>() > 0);

        // The activity's figures outlive its gateway socket; unknown scopes are 404s.
        await h.Proxy.RemoveGatewayAsync(InboundProtocol.Tcp, address, cts.Token);
        Assert.Equal(length, (await h.GetJsonAsync("/status-api/v1/metrics/activity/act-1/bandwidth", cts.Token))["BytesSent"]!.GetValue<long>());
        Assert.Equal(1, (await h.GetJsonAsync("/status-api/v1/metrics/activity/act-1", cts.Token))["Connections"]!["Accepted"]!.GetValue<long>());
        await AssertProblemAsync(await h.Client.GetAsync("/status-api/v1/metrics/activity/nope", cts.Token), HttpStatusCode.NotFound, "activity_id", cts.Token);
        await AssertProblemAsync(await h.Client.GetAsync("/status-api/v1/metrics/vpn/nope/bandwidth", cts.Token), HttpStatusCode.NotFound, "vpn_id", cts.Token);
    }

    [Fact]
    public async Task UdpGateway_CarriesDatagramsBothWays_PerClientFlow_AndCountsThem()
    {
        using var cts = new CancellationTokenSource(InboundVpnLab.Timeout);
        await using var h = await StartAsync(cts.Token);
        using var echo = h.Lab.Service.BindUdp(EchoPort);
        var echoing = Task.Run(async () =>
        {
            var buffer = new byte[2048];
            while (true)
            {
                var datagram = await echo.ReceiveFromAsync(buffer, cts.Token);
                await echo.SendToAsync(buffer.AsMemory(0, datagram.Length), datagram.RemoteEndPoint, cts.Token);
            }
        }, cts.Token);
        var address = FreeEndPoint();
        using (var post = await h.SendAsync(HttpMethod.Post, Path("gateway-api", "udp", address), h.Entry(EchoPort, activity: "udp-1"), cts.Token))
        {
            Assert.Equal(HttpStatusCode.Created, post.StatusCode);
        }
        long sent = 0;
        for (int c = 0; c < 2; c++)
        {
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            client.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            for (int i = 0; i < 5; i++)
            {
                byte[] payload = Encoding.ASCII.GetBytes($"client {c} datagram {i}");
                var buffer = new byte[2048];
                // UDP may lose the first datagram while the flow's path warms up: resend until answered.
                SocketReceiveFromResult? received = null;
                for (int attempt = 0; received is null; attempt++)
                {
                    Assert.True(attempt < 30, "no echo through the UDP gateway");
                    await client.SendToAsync(payload, SocketFlags.None, address, cts.Token);
                    sent += payload.Length;
                    using var wait = CancellationTokenSource.CreateLinkedTokenSource(cts.Token);
                    wait.CancelAfter(TimeSpan.FromSeconds(1));
                    try
                    {
                        received = await client.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), wait.Token);
                    }
                    catch (OperationCanceledException) when (!cts.IsCancellationRequested)
                    {
                        // Lost: send again.
                    }
                }
                Assert.Equal(payload, buffer[..received.Value.ReceivedBytes]);
                Assert.Equal(address, received.Value.RemoteEndPoint);
            }
        }
        var metrics = h.Proxy.GetActivityMetrics("udp-1");
        Assert.Equal(2, metrics.Connections.Accepted);
        Assert.Equal(2, metrics.Connections.Active);
        Assert.Equal(sent, metrics.Bandwidth.BytesReceived);
        Assert.True(metrics.Bandwidth.BytesSent > 0 && metrics.Bandwidth.BytesSent <= sent);
        Assert.Equal(2, metrics.Open.Count);
        Assert.All(metrics.Open, c => Assert.Equal("udp", c.Protocol));
        await h.Proxy.RemoveGatewayAsync(InboundProtocol.Udp, address, cts.Token);
        echo.Dispose();
        await Assert.ThrowsAnyAsync<Exception>(() => echoing);
    }

    [Fact]
    public async Task PerSourceLimits_ResetConnectionsOverTheOpenLimitAndTheRate_AndCountThem()
    {
        using var cts = new CancellationTokenSource(InboundVpnLab.Timeout);
        // A frozen clock: the rate bucket never refills, so the count of connections it lets through is exact.
        var clock = new ManualTimeProvider();
        await using var h = await StartAsync(cts.Token, new InboundProxyOptions
        {
            MaxConnectionsPerSource = 2,
            ConnectionRatePerSource = 4,
            IdleTimeout = Timeout.InfiniteTimeSpan,
        }, time: clock);
        await using var service = ServiceRunner.Start(h.Lab.Service, EchoPort, EchoAsync);
        var address = FreeEndPoint();
        await h.Proxy.AddGatewayAsync(InboundProtocol.Tcp, address, new InboundGatewayEntry("R1", "A1", h.Lab.VpnId, h.Lab.ServicePeerId,
            $"{h.Lab.Service.Address}:{EchoPort}"), cts.Token);

        var first = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var second = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await first.ConnectAsync(address, cts.Token);
        await AssertEchoesAsync(first, cts.Token);
        await second.ConnectAsync(address, cts.Token);
        await AssertEchoesAsync(second, cts.Token);
        // Two open: the third is over the per-source limit.
        await AssertRefusedAsync(address, cts.Token);
        Assert.Equal(1, h.Proxy.GetMetrics().Connections.Refused);
        first.Dispose();
        second.Dispose();
        await Conditions.WaitUntilAsync(() => h.Proxy.GetMetrics().Connections.Active == 0, InboundVpnLab.Timeout, "the connections did not end", cts.Token);
        // Two more fit the rate's burst of four (the refused one took none); the fifth is over the rate.
        for (int i = 0; i < 2; i++)
        {
            using var again = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await again.ConnectAsync(address, cts.Token);
            await AssertEchoesAsync(again, cts.Token);
        }
        await AssertRefusedAsync(address, cts.Token);
        var counts = h.Proxy.GetMetrics().Connections;
        Assert.Equal(4, counts.Accepted);
        Assert.Equal(1, counts.Refused);
        Assert.Equal(1, counts.RateLimited);
        // A second later the bucket holds tokens again.
        clock.Advance(TimeSpan.FromSeconds(1));
        using var later = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await later.ConnectAsync(address, cts.Token);
        await AssertEchoesAsync(later, cts.Token);
    }

    [Fact]
    public async Task BearerToken_IsRequiredOnEveryEndpoint_ButTheOpenApiDocument()
    {
        using var cts = new CancellationTokenSource(InboundVpnLab.Timeout);
        await using var h = await StartAsync(cts.Token, apiOptions: new InboundProxyApiOptions { BearerToken = "s3cret" });
        using (var anonymous = await h.Client.GetAsync("/status-api/v1/status", cts.Token))
        {
            await AssertProblemAsync(anonymous, HttpStatusCode.Unauthorized, null, cts.Token);
            Assert.Equal("Bearer", anonymous.Headers.WwwAuthenticate.ToString());
        }
        using (var wrong = new HttpRequestMessage(HttpMethod.Get, "/gateway-api/v1/"))
        {
            wrong.Headers.Authorization = new("Bearer", "s3cre");
            await AssertProblemAsync(await h.Client.SendAsync(wrong, cts.Token), HttpStatusCode.Unauthorized, null, cts.Token);
        }
        using (var right = new HttpRequestMessage(HttpMethod.Get, "/gateway-api/v1/"))
        {
            right.Headers.Authorization = new("Bearer", "s3cret");
            Assert.Equal(HttpStatusCode.OK, (await h.Client.SendAsync(right, cts.Token)).StatusCode);
        }
        Assert.Equal(HttpStatusCode.OK, (await h.Client.GetAsync("/openapi/v1.json", cts.Token)).StatusCode);
    }

    [Fact]
    public async Task OpenApiDocument_DescribesEveryServedRoute()
    {
        using var cts = new CancellationTokenSource(InboundVpnLab.Timeout);
        await using var h = await StartAsync(cts.Token);
        var document = await h.GetJsonAsync("/openapi/v1.json", cts.Token);
        Assert.StartsWith("3.", document["openapi"]!.GetValue<string>(), StringComparison.Ordinal);
        var paths = document["paths"]!.AsObject();
        string[] expected =
        [
            "get /probe-api/v1/", "put /probe-api/v1/{proto}/{addr}", "get /probe-api/v1/{proto}/{addr}", "get /probe-api/v1/{proto}/{addr}/{requestorId}",
            "delete /probe-api/v1/{proto}/{addr}/{requestorId}", "delete /probe-api/v1/{proto}/{addr}/{requestorId}/{token}",
            "get /gateway-api/v1/", "post /gateway-api/v1/{proto}/{addr}", "get /gateway-api/v1/{proto}/{addr}", "delete /gateway-api/v1/{proto}/{addr}",
            "get /status-api/v1/status", "get /status-api/v1/metrics", "get /status-api/v1/metrics/bandwidth",
            "get /status-api/v1/metrics/activity/{activityId}", "get /status-api/v1/metrics/activity/{activityId}/bandwidth",
            "get /status-api/v1/metrics/vpn/{vpnId}", "get /status-api/v1/metrics/vpn/{vpnId}/bandwidth", "get /openapi/v1.json",
        ];
        var described = paths.SelectMany(p => p.Value!.AsObject().Select(o => $"{o.Key} {p.Key}")).Order().ToArray();
        Assert.Equal(expected.Order().ToArray(), described);
        // Every schema referenced is defined.
        var schemas = document["components"]!["schemas"]!.AsObject();
        foreach (Match reference in Regex.Matches(document.ToJsonString(), "#/components/schemas/(\\w+)"))
        {
            Assert.True(schemas.ContainsKey(reference.Groups[1].Value), reference.Value);
        }
        // Every path answers something other than 404/405 from routing (a 404 problem for an unknown socket is fine).
        foreach (var route in described.Where(d => d.StartsWith("get ", StringComparison.Ordinal)))
        {
            string url = route[4..].Replace("{proto}", "tcp", StringComparison.Ordinal).Replace("{addr}", "127.0.0.1%3A1", StringComparison.Ordinal)
                .Replace("{requestorId}", "R", StringComparison.Ordinal).Replace("{activityId}", "A", StringComparison.Ordinal)
                .Replace("{vpnId}", h.Lab.VpnId, StringComparison.Ordinal);
            using var response = await h.Client.GetAsync(url, cts.Token);
            Assert.True(response.StatusCode == HttpStatusCode.OK
                || response.Content.Headers.ContentType?.MediaType == "application/problem+json", $"{url}: {response.StatusCode}");
        }
    }

    /// <summary>Sends raw bytes to a probe and reads its whole answer (empty when it closes without one).</summary>
    private static async Task<string> ExchangeAsync(IPEndPoint address, string request, CancellationToken ct)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(address, ct);
        await socket.SendAsync(Encoding.ASCII.GetBytes(request), SocketFlags.None, ct);
        using var answer = new MemoryStream();
        var buffer = new byte[4096];
        try
        {
            int n;
            while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, ct)) > 0)
            {
                answer.Write(buffer, 0, n);
            }
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            // Closed with unread bytes (the oversized head): what arrived before counts.
        }
        return Encoding.UTF8.GetString(answer.ToArray());
    }
}

internal static class JsonObjectExtensions
{
    public static JsonObject Also(this JsonObject value, Action<JsonObject> change)
    {
        change(value);
        return value;
    }
}
