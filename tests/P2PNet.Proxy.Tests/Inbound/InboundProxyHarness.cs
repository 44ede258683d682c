using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using P2PNet.Proxy.Inbound;

namespace P2PNet.Proxy.Tests.Inbound;

/// <summary>An <see cref="InboundProxy"/> on the proxy member of an <see cref="InboundVpnLab"/>, its management API on
/// a loopback port, and an HTTP client for it.</summary>
internal sealed class InboundProxyHarness : IAsyncDisposable
{
    private InboundProxyHarness(InboundVpnLab lab, InboundProxy proxy, InboundProxyApiServer server, HttpClient client)
    {
        Lab = lab;
        Proxy = proxy;
        Server = server;
        Client = client;
    }

    public InboundVpnLab Lab { get; }

    public InboundProxy Proxy { get; }

    public InboundProxyApiServer Server { get; }

    public HttpClient Client { get; }

    public static async Task<InboundProxyHarness> StartAsync(CancellationToken ct, InboundProxyOptions? options = null,
        InboundProxyApiOptions? apiOptions = null, TimeProvider? time = null, System.Diagnostics.Metrics.IMeterFactory? meters = null)
    {
        var lab = await InboundVpnLab.StartAsync(ct);
        var proxy = new InboundProxy(options, timeProvider: time, meterFactory: meters);
        proxy.AddVpn(lab.ProxyVpn, lab.Proxy);
        var server = new InboundProxyApiServer(proxy, new IPEndPoint(IPAddress.Loopback, 0), apiOptions);
        await server.StartAsync(ct);
        return new InboundProxyHarness(lab, proxy, server, new HttpClient { BaseAddress = server.Url, Timeout = InboundVpnLab.Timeout });
    }

    /// <summary>A loopback endpoint with a port free for both TCP and UDP right now.</summary>
    public static IPEndPoint FreeEndPoint()
    {
        while (true)
        {
            using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            tcp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            var endPoint = (IPEndPoint)tcp.LocalEndPoint!;
            using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            try
            {
                udp.Bind(endPoint);
                return endPoint;
            }
            catch (SocketException)
            {
                // Taken for UDP: try another.
            }
        }
    }

    public static string Path(string api, string proto, IPEndPoint endPoint) => $"/{api}/v1/{proto}/{Uri.EscapeDataString(endPoint.ToString())}";

    public JsonObject Entry(int port, string activity = "A1", string? vpnId = null, string? remoteId = null, string? remoteAddr = null) => new()
    {
        ["RequestorId"] = "R1",
        ["ActivityId"] = activity,
        ["VpnId"] = vpnId ?? Lab.VpnId,
        ["RemoteId"] = remoteId ?? Lab.ServicePeerId,
        ["RemoteAddr"] = remoteAddr ?? $"{Lab.Service.Address}:{port}",
    };

    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, JsonNode? body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        }
        return await Client.SendAsync(request, ct);
    }

    public async Task<JsonNode> GetJsonAsync(string path, CancellationToken ct)
    {
        using var response = await Client.GetAsync(path, ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonNode>(ct))!;
    }

    /// <summary>Asserts a problem+json answer with the status and, when given, the field at fault.</summary>
    public static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string? field, CancellationToken ct)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = (await response.Content.ReadFromJsonAsync<JsonNode>(ct))!;
        Assert.Equal((int)status, problem["status"]!.GetValue<int>());
        Assert.False(string.IsNullOrEmpty(problem["detail"]?.GetValue<string>()));
        if (field is not null)
        {
            Assert.Equal(field, problem["field"]?.GetValue<string>());
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Server.DisposeAsync();
        await Proxy.DisposeAsync();
        await Lab.DisposeAsync();
    }
}
