using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using P2PNet.Crypto;
using P2PNet.Testing.Interop;
using P2PNet.Testing.Networking;
using P2PNet.Testing.Processes;
using P2PNet.Vpn.NetStack;

namespace P2PNet.Proxy.Tests.Outbound;

/// <summary>The gateway lab runs a dozen processes and moves traffic through TUN devices: alone, not beside
/// timing-sensitive tests.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class OutboundGatewayLabGroup
{
    /// <summary>The collection's name.</summary>
    public const string Name = "outbound-gateway-lab";
}

/// <summary>
/// Issue 19 end to end, as root in network namespaces: a requestor namespace running <c>p2pnet net-api</c>, a gateway
/// namespace running <c>p2pnet gateway serve</c> with a second link to an "internet" namespace (203.0.113.0/24: HTTP,
/// UDP echo, ping) and a third to a private server (192.168.77.10) that must stay unreachable. The REST calls go through
/// <c>curl</c> in the requestor's namespace; the raw websocket carries a user-space TCP/IP stack (the requestor's client side).
/// </summary>
[Collection(OutboundGatewayLabGroup.Name)]
public class OutboundGatewayNamespaceTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(60);
    private const string RequestorIp = "192.0.2.10";
    private const string GatewayIp = "192.0.2.20";
    private const string ServerIp = "203.0.113.10";
    private const string PrivateIp = "192.168.77.10";
    private const string RequestorVpnIp = "10.90.0.12";
    private const string GatewayVpnIp = "10.90.0.7";
    private const int BlobSize = 3 * 1024 * 1024 + 123;

    private const string ServerScript = """
        import http.server, socket, sys, threading
        ip, root = sys.argv[1], sys.argv[2]
        class Handler(http.server.SimpleHTTPRequestHandler):
            protocol_version = "HTTP/1.0"
            def __init__(self, *a, **k):
                super().__init__(*a, directory=root, **k)
            def log_message(self, *a):
                pass
        def udp_echo():
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((ip, 7))
            while True:
                b, a = s.recvfrom(65536)
                s.sendto(b, a)
        threading.Thread(target=udp_echo, daemon=True).start()
        http.server.ThreadingHTTPServer.daemon_threads = True
        server = http.server.ThreadingHTTPServer((ip, 80), Handler)
        print("READY", flush=True)
        server.serve_forever()
        """;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Requestor_ReachesTheInternetThroughTheGateway_TcpUdpAndPing_PrivateDestinationsRefused_UsageCounted(bool rootless)
    {
        await NamespaceLab.RequireAsync(CancellationToken.None);
        await NamespaceLab.RequireToolAsync("python3", "python3", CancellationToken.None);
        await NamespaceLab.RequireToolAsync("curl", "curl", CancellationToken.None);
        await NamespaceLab.RequireToolAsync("nft", "nftables", CancellationToken.None);
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        var ct = cts.Token;
        string dir = Directory.CreateTempSubdirectory("p2pnet-gw-").FullName;
        await using var lab = await NamespaceLab.CreateAsync("nsgw", ct);
        var lan = await lab.AddSwitchAsync("192.0.2.0/24", ct);
        var internet = await lab.AddSwitchAsync("203.0.113.0/24", ct);
        var office = await lab.AddSwitchAsync("192.168.77.0/24", ct);
        string requestor = await lab.AddHostAsync("req", lan, RequestorIp, ct);
        string gateway = await lab.AddHostAsync("gw", lan, GatewayIp, ct);
        await lab.AddInterfaceAsync(gateway, internet, "203.0.113.1", ct);
        await lab.AddInterfaceAsync(gateway, office, "192.168.77.1", ct);
        string server = await lab.AddHostAsync("inet", internet, ServerIp, ct, gateway: "203.0.113.1");
        string office1 = await lab.AddHostAsync("priv", office, PrivateIp, ct, gateway: "192.168.77.1");

        // The servers: HTTP with a blob and UDP echo on the Internet side, HTTP on the private one.
        string www = Directory.CreateDirectory(Path.Combine(dir, "www")).FullName;
        byte[] blob = new byte[BlobSize];
        new Random(19).NextBytes(blob);
        await File.WriteAllBytesAsync(Path.Combine(www, "blob"), blob, ct);
        string script = Path.Combine(dir, "server.py");
        await File.WriteAllTextAsync(script, ServerScript, ct);
        await using var internetServer = lab.Start(server, ["python3", "-u", script, ServerIp, www]);
        await internetServer.WaitForLineAsync("READY", null, Step, ct);
        await using var privateServer = lab.Start(office1, ["python3", "-u", script, PrivateIp, www]);
        await privateServer.WaitForLineAsync("READY", null, Step, ct);

        string requestorId = NewKey(dir, "req.key");
        string gatewayId = NewKey(dir, "gw.key");
        await using var gw = lab.Start(gateway, ["dotnet", P2PNetCli.Assembly, "gateway", "serve", "--key", Path.Combine(dir, "gw.key"),
            "--listen", $"/ip4/{GatewayIp}/tcp/4003", "--allow-requestor", requestorId, "--api", "127.0.0.1:7467", .. rootless ? new[] { "--rootless" } : []]);
        Assert.Equal($"GATEWAY UP /ip4/{GatewayIp}/tcp/4003/p2p/{gatewayId}", await gw.WaitForLineAsync("GATEWAY UP", null, Step, ct));
        await using var netApi = lab.Start(requestor, ["dotnet", P2PNetCli.Assembly, "net-api", "--key", Path.Combine(dir, "req.key"),
            "--listen", $"/ip4/{RequestorIp}/tcp/4004", "--api", "127.0.0.1:7465", "--peer", $"{gatewayId}=/ip4/{GatewayIp}/tcp/4003"]);
        Assert.Equal("NET-API http://127.0.0.1:7465", await netApi.WaitForLineAsync("NET-API", null, Step, ct));

        // The design's REST sequence, with curl.
        var created = JsonNode.Parse(await CurlAsync(lab, requestor, "POST", "/net-api/v2/net", """{"ip":"10.90.0.0","mask":"255.255.255.0","gateway":"10.90.0.7"}""", 200, ct))!;
        string net = created["id"]!.GetValue<string>();
        Assert.Matches("^[0-9a-f]{32}$", net);
        Assert.Equal("10.90.0.0/24", created["ip"]!.GetValue<string>());
        Assert.Equal("255.255.255.0", created["mask"]!.GetValue<string>());
        Assert.Equal(GatewayVpnIp, created["gateway"]!.GetValue<string>());
        Assert.Equal("null", await CurlAsync(lab, requestor, "POST", $"/net-api/v2/net/{net}/addresses", $$"""{"ip":"{{RequestorVpnIp}}"}""", 200, ct));
        Assert.Equal("null", await CurlAsync(lab, requestor, "POST", $"/net-api/v2/net/{net}/nodes",
            $$"""{"id":"{{gatewayId}}","activityId":"act-1","ip":"{{GatewayVpnIp}}"}""", 200, ct));
        var nodes = JsonNode.Parse(await CurlAsync(lab, requestor, "GET", $"/net-api/v2/net/{net}/nodes", null, 200, ct))!.AsArray();
        Assert.Equal(gatewayId, Assert.Single(nodes)!["id"]!.GetValue<string>());
        Assert.Equal(net, JsonNode.Parse(await CurlAsync(lab, requestor, "GET", $"/net-api/v2/net/{net}", null, 200, ct))!["id"]!.GetValue<string>());
        Assert.Single(JsonNode.Parse(await CurlAsync(lab, requestor, "GET", "/net-api/v2/net", null, 200, ct))!.AsArray());
        // Bad input and unknown ids.
        await CurlAsync(lab, requestor, "POST", "/net-api/v2/net", """{"ip":"10.90.0.0","mask":"255.0.255.0"}""", 400, ct);
        await CurlAsync(lab, requestor, "POST", "/net-api/v2/net", """{"ip":"nonsense"}""", 400, ct);
        await CurlAsync(lab, requestor, "POST", "/net-api/v2/net", "{not json", 400, ct);
        await CurlAsync(lab, requestor, "POST", "/net-api/v2/net", """{"ip":"10.91.0.0","mask":"255.255.255.0","gateway":"10.92.0.1"}""", 400, ct);
        await CurlAsync(lab, requestor, "POST", $"/net-api/v2/net/{net}/addresses", """{"ip":"10.90.0.13"}""", 409, ct);
        await CurlAsync(lab, requestor, "POST", $"/net-api/v2/net/{net}/addresses", """{"ip":"10.99.0.1"}""", 400, ct);
        await CurlAsync(lab, requestor, "POST", $"/net-api/v2/net/{net}/nodes", """{"id":"nope","ip":"10.90.0.20"}""", 400, ct);
        await CurlAsync(lab, requestor, "GET", "/net-api/v2/net/00000000000000000000000000000000", null, 404, ct);
        await CurlAsync(lab, requestor, "DELETE", $"/net-api/v2/net/{net}/nodes/{requestorId}", null, 404, ct);
        string wsBase = $"/net-api/v2/net/{net}/raw/from/{RequestorVpnIp}/to";
        await CurlAsync(lab, requestor, "GET", $"{wsBase}/10.90.0.99", null, 400, ct); // not a member, not the gateway

        // The raw websocket, from a client whose socket lives in the requestor's namespace.
        using var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, token) =>
            {
                var socket = NamespaceLab.CreateSocket(requestor);
                await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, context.DnsEndPoint.Port), token);
                return new NetworkStream(socket, ownsSocket: true);
            },
        };
        using var invoker = new HttpMessageInvoker(handler);
        using var ws = new ClientWebSocket();
        ws.Options.AddSubProtocol("ipv4");
        await ws.ConnectAsync(new Uri($"ws://127.0.0.1:7465{wsBase}/{GatewayVpnIp}"), invoker, ct);
        Assert.Equal("ipv4", ws.SubProtocol);

        // A ping, by hand: echo request out, echo reply back.
        await ws.SendAsync(EchoRequest(RequestorVpnIp, ServerIp, 0x4242, 1), WebSocketMessageType.Binary, true, ct);
        var reply = new byte[2048];
        while (true)
        {
            var received = await ws.ReceiveAsync(reply, ct);
            if (received.Count >= 28 && reply[9] == 1 && reply[20] == 0 && BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(24)) == 0x4242)
            {
                Assert.Equal(ServerIp, new IPAddress(reply.AsSpan(12, 4)).ToString());
                break;
            }
        }

        // TCP and UDP through a user-space stack on the websocket.
        await using var stack = new IPStack(new WebSocketPacketDevice(ws), IPAddress.Parse(RequestorVpnIp), new NetStackOptions { Mtu = 1420 });
        await stack.StartAsync(ct);
        using (var udp = stack.BindUdp())
        {
            await udp.SendToAsync("hello, internet"u8.ToArray(), new IPEndPoint(IPAddress.Parse(ServerIp), 7), ct);
            var buffer = new byte[64];
            var datagram = await udp.ReceiveFromAsync(buffer, ct).AsTask().WaitAsync(Step, ct);
            Assert.Equal("hello, internet", Encoding.ASCII.GetString(buffer, 0, datagram.Length));
        }
        byte[] body;
        await using (var connection = await stack.ConnectTcpAsync(IPAddress.Parse(ServerIp), 80, ct))
        {
            await connection.WriteAsync(Encoding.ASCII.GetBytes($"GET /blob HTTP/1.0\r\nHost: {ServerIp}\r\n\r\n"), ct);
            connection.CompleteWrites();
            body = HttpBody(await Inbound.InboundTestKit.ReadToEndAsync(connection, ct));
        }
        Assert.Equal(SHA256.HashData(blob), SHA256.HashData(body));

        // The private server stays unreachable: the SYN is dropped at the gateway, and counted.
        using (var refused = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            refused.CancelAfter(TimeSpan.FromSeconds(3));
            await Assert.ThrowsAnyAsync<Exception>(() => stack.ConnectTcpAsync(IPAddress.Parse(PrivateIp), 80, refused.Token));
        }
        var status = JsonNode.Parse(await lab.ExecAsync(gateway, ct, "curl", "-sS", "--max-time", "10", "http://127.0.0.1:7467/status"))!;
        Assert.True(status["Refused"]!["Destination"]!.GetValue<long>() >= 1, status.ToJsonString());
        var usage = Assert.Single(status["Usage"]!.AsArray())!;
        Assert.Equal(requestorId, usage["Requestor"]!.GetValue<string>());
        // Usage counts IP bytes: the blob plus headers (IP, TCP, HTTP) — within 10 % of the bytes the requestor received.
        double bytesIn = usage["golem.usage.network.in"]!.GetValue<double>();
        double bytesOut = usage["golem.usage.network.out"]!.GetValue<double>();
        Assert.InRange(bytesIn, BlobSize, BlobSize * 1.1);
        Assert.InRange(bytesOut, 100, BlobSize * 0.1);
        Assert.True(usage["golem.usage.duration_sec"]!.GetValue<double>() > 0);

        // Removing the gateway node cuts the path.
        Assert.Equal("null", await CurlAsync(lab, requestor, "DELETE", $"/net-api/v2/net/{net}/nodes/{gatewayId}", null, 200, ct));
        Assert.Equal("null", await CurlAsync(lab, requestor, "DELETE", $"/net-api/v2/net/{net}", null, 200, ct));
        await CurlAsync(lab, requestor, "GET", $"/net-api/v2/net/{net}", null, 404, ct);
    }

    /// <summary>Runs curl in the requestor's namespace against the net-api; asserts the status; returns the body.</summary>
    private static async Task<string> CurlAsync(NamespaceLab lab, string ns, string method, string path, string? body, int status, CancellationToken ct)
    {
        List<string> command = ["curl", "-sS", "--max-time", "70", "-o", "-", "-w", "\n%{http_code}", "-X", method, "http://127.0.0.1:7465" + path];
        if (body is not null)
        {
            command.AddRange(["-H", "Content-Type: application/json", "--data-binary", body]);
        }
        string output = await lab.ExecAsync(ns, ct, [.. command]);
        int split = output.TrimEnd().LastIndexOf('\n');
        string code = output.TrimEnd()[(split + 1)..];
        string text = split < 0 ? "" : output[..split];
        Assert.True(code == status.ToString(System.Globalization.CultureInfo.InvariantCulture), $"{method} {path}: {code} {text}");
        return text.Trim();
    }

    private static byte[] EchoRequest(string source, string destination, ushort id, ushort sequence)
    {
        var packet = new byte[20 + 8 + 16];
        packet[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(2), (ushort)packet.Length);
        packet[8] = 64;
        packet[9] = 1;
        IPAddress.Parse(source).GetAddressBytes().CopyTo(packet, 12);
        IPAddress.Parse(destination).GetAddressBytes().CopyTo(packet, 16);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(10), Checksum(packet.AsSpan(0, 20)));
        packet[20] = 8;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(24), id);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(26), sequence);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(22), Checksum(packet.AsSpan(20)));
        return packet;
    }

    private static ushort Checksum(ReadOnlySpan<byte> data)
    {
        uint sum = 0;
        for (int i = 0; i + 1 < data.Length; i += 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
        }
        while (sum > 0xffff)
        {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        return (ushort)~sum;
    }

    private static byte[] HttpBody(byte[] response)
    {
        int end = response.AsSpan().IndexOf("\r\n\r\n"u8);
        Assert.True(end > 0, "no HTTP head in the response");
        Assert.StartsWith("HTTP/1.0 200", Encoding.ASCII.GetString(response, 0, Math.Min(end, 64)), StringComparison.Ordinal);
        return response[(end + 4)..];
    }

    private static string NewKey(string dir, string name)
    {
        using var key = PrivateKey.GenerateEd25519();
        key.WriteFile(Path.Combine(dir, name));
        return key.PublicKey.ToPeerId().ToString();
    }
}
