using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using P2PNet.Crypto;
using P2PNet.Proxy.Outbound;
using P2PNet.Testing;
using P2PNet.Vpn;

namespace P2PNet.Proxy.Tests.Outbound;

/// <summary>The net-api in process: real hosts on loopback, real Kestrel, a real websocket client; the invited node is
/// a plain VPN member on a user-space device (the gateway's egress is covered by the namespace tests).</summary>
public class NetApiTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private sealed class Harness : IAsyncDisposable
    {
        public required TestHostGroup Hosts { get; init; }
        public required PrivateKey[] Keys { get; init; }
        public required NetApi Api { get; init; }
        public required NetApiServer Server { get; init; }
        public required HttpClient Client { get; init; }
        public UserSpacePacketDevice NodeDevice { get; } = new();
        public VpnMember? NodeVpn { get; set; }

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await Server.DisposeAsync();
            await Api.DisposeAsync();
            if (NodeVpn is not null)
            {
                await NodeVpn.DisposeAsync();
            }
            await NodeDevice.DisposeAsync();
            await Hosts.DisposeAsync();
            foreach (var key in Keys)
            {
                key.Dispose();
            }
        }
    }

    /// <summary>Host 0 runs the net-api; host 1 accepts invitations from it (or refuses them all).</summary>
    private static async Task<Harness> StartAsync(bool nodeAccepts, CancellationToken ct)
    {
        PrivateKey[] keys = [PrivateKey.GenerateEd25519(), PrivateKey.GenerateEd25519()];
        var hosts = await TestHostGroup.StartAsync(2, (i, o) => o.Identity = keys[i], cancellationToken: ct);
        hosts[0].PeerStore.AddAddresses(hosts[1].PeerId, hosts[1].ListenAddresses);
        var api = new NetApi(hosts[0]) { InviteTimeout = TimeSpan.FromSeconds(20) };
        var server = new NetApiServer(api, new IPEndPoint(IPAddress.Loopback, 0));
        await server.StartAsync(ct);
        var harness = new Harness { Hosts = hosts, Keys = keys, Api = api, Server = server, Client = new HttpClient { BaseAddress = server.Url, Timeout = Timeout } };
        VpnInvite.Accept(hosts[1], async (invitation, token) =>
        {
            if (!nodeAccepts)
            {
                return "not serving you";
            }
            harness.NodeVpn = new VpnMember(hosts[1], harness.NodeDevice, new VpnOptions { VpnId = invitation.VpnId });
            await harness.NodeVpn.JoinAsync(invitation.CoordinatorAddresses[0].WithPeerId(invitation.Coordinator), invitation.Address, token);
            return null;
        });
        return harness;
    }

    private static async Task<(HttpStatusCode Status, JsonNode? Body)> SendAsync(Harness h, HttpMethod method, string path, string? body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }
        using var response = await h.Client.SendAsync(request, ct);
        string text = await response.Content.ReadAsStringAsync(ct);
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    [Fact]
    public async Task RawWebSocket_CarriesPacketsBothWays_DropsSpoofedOnes_AndClosesOnATextOrAnOversizedMessage()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var ct = cts.Token;
        await using var h = await StartAsync(nodeAccepts: true, ct);
        var (status, created) = await SendAsync(h, HttpMethod.Post, "/net-api/v2/net", """{"ip":"10.91.0.0/24"}""", ct);
        Assert.Equal(HttpStatusCode.OK, status);
        string net = created!["id"]!.GetValue<string>();
        Assert.Null(created["gateway"]);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(h, HttpMethod.Post, $"/net-api/v2/net/{net}/addresses", """{"ip":"10.91.0.12"}""", ct)).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(h, HttpMethod.Post, $"/net-api/v2/net/{net}/nodes",
            $$"""{"id":"{{h.Hosts[1].PeerId}}","activityId":"a","ip":"10.91.0.20"}""", ct)).Status);
        Assert.Equal(IPAddress.Parse("10.91.0.20"), h.NodeVpn!.Address);
        var addresses = (await SendAsync(h, HttpMethod.Get, $"/net-api/v2/net/{net}/addresses", null, ct)).Body!.AsArray();
        Assert.Equal("10.91.0.12", Assert.Single(addresses)!["ip"]!.GetValue<string>());

        using var ws = new ClientWebSocket();
        ws.Options.AddSubProtocol("ipv4");
        await ws.ConnectAsync(new Uri($"ws://{h.Server.Url.Authority}/net-api/v2/net/{net}/raw/from/10.91.0.12/to/10.91.0.20"), ct);
        await Conditions.WaitUntilAsync(() => h.NodeVpn.GetStatistics().Peers.Values.Any(p => p.Connected), Timeout, "the data stream did not come up", ct);

        // A spoofed source is dropped by the net-api, then a real one arrives alone.
        await ws.SendAsync(Packet("10.91.0.99", "10.91.0.20", [1]), WebSocketMessageType.Binary, true, ct);
        await ws.SendAsync(new byte[10], WebSocketMessageType.Binary, true, ct); // not a packet
        byte[] real = Packet("10.91.0.12", "10.91.0.20", [2, 3]);
        await ws.SendAsync(real, WebSocketMessageType.Binary, true, ct);
        Assert.Equal(real, await h.NodeDevice.ReceiveAsync(ct));
        Assert.False(h.NodeDevice.TryReceive(out _));

        // The node answers: one binary message on the socket.
        byte[] answer = Packet("10.91.0.20", "10.91.0.12", [4, 5, 6]);
        await h.NodeDevice.SendAsync(answer, ct);
        var buffer = new byte[2048];
        var received = await ws.ReceiveAsync(buffer, ct);
        Assert.Equal(WebSocketMessageType.Binary, received.MessageType);
        Assert.Equal(answer, buffer[..received.Count]);

        // A text message closes the socket with 1003.
        await ws.SendAsync("hello"u8.ToArray(), WebSocketMessageType.Text, true, ct);
        var closing = await ws.ReceiveAsync(buffer, ct);
        Assert.Equal(WebSocketMessageType.Close, closing.MessageType);
        Assert.Equal(WebSocketCloseStatus.InvalidMessageType, ws.CloseStatus);

        // A message longer than any IPv4 packet closes the socket with 1009 once 64 KiB are in, not buffered further.
        using var big = new ClientWebSocket();
        big.Options.AddSubProtocol("ipv4");
        await big.ConnectAsync(new Uri($"ws://{h.Server.Url.Authority}/net-api/v2/net/{net}/raw/from/10.91.0.12/to/10.91.0.20"), ct);
        await big.SendAsync(new byte[70_000], WebSocketMessageType.Binary, true, ct);
        var tooBig = await big.ReceiveAsync(buffer, ct);
        Assert.Equal(WebSocketMessageType.Close, tooBig.MessageType);
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, big.CloseStatus);
        Assert.False(h.NodeDevice.TryReceive(out _)); // nothing of it reached the node
    }

    [Fact]
    public async Task Rest_BadInputUnknownIdsAndRefusedInvitations_AreAnsweredWithMessages()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var ct = cts.Token;
        await using var h = await StartAsync(nodeAccepts: false, ct);
        foreach (string body in new[] { "{", "null", "[]", """{"ip":"10.0.0.0"}""", """{"ip":"10.0.0.1","mask":"255.255.255.0"}""",
            """{"ip":"10.0.0.0","mask":"255.255.255.255"}""", """{"ip":"::1","mask":"255.255.255.0"}""", """{"ip":"10.0.0.0/24","gateway":"10.0.0.0"}""" })
        {
            var (status, error) = await SendAsync(h, HttpMethod.Post, "/net-api/v2/net", body, ct);
            Assert.True(status == HttpStatusCode.BadRequest, $"{body}: {status}");
            Assert.False(string.IsNullOrEmpty(error!["message"]!.GetValue<string>()));
        }
        string net = (await SendAsync(h, HttpMethod.Post, "/net-api/v2/net", """{"ip":"10.92.0.0","mask":"255.255.255.0","gateway":"10.92.0.1"}""", ct)).Body!["id"]!.GetValue<string>();
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(h, HttpMethod.Post, $"/net-api/v2/net/{net}/addresses", """{"ip":"10.92.0.1"}""", ct)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(h, HttpMethod.Post, "/net-api/v2/net/ffffffffffffffffffffffffffffffff/addresses", """{"ip":"10.92.0.2"}""", ct)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(h, HttpMethod.Delete, $"/net-api/v2/net/{net}/nodes/{h.Hosts[1].PeerId}", null, ct)).Status);
        // The node declines: 502 with its reason, and it is not left in the network.
        var (refused, why) = await SendAsync(h, HttpMethod.Post, $"/net-api/v2/net/{net}/nodes", $$"""{"id":"{{h.Hosts[1].PeerId}}","ip":"10.92.0.1"}""", ct);
        Assert.Equal(HttpStatusCode.BadGateway, refused);
        Assert.Contains("not serving you", why!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Empty((await SendAsync(h, HttpMethod.Get, $"/net-api/v2/net/{net}/nodes", null, ct)).Body!.AsArray());
        // A raw socket needs a websocket request, this node's own address, and a member or the gateway as next hop.
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(h, HttpMethod.Get, $"/net-api/v2/net/{net}/raw/from/10.92.0.50/to/10.92.0.1", null, ct)).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(h, HttpMethod.Delete, $"/net-api/v2/net/{net}", null, ct)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(h, HttpMethod.Get, $"/net-api/v2/net/{net}", null, ct)).Status);
    }

    private static byte[] Packet(string source, string destination, byte[] payload)
    {
        var packet = new byte[20 + payload.Length];
        packet[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(2), (ushort)packet.Length);
        packet[8] = 64;
        packet[9] = 17;
        IPAddress.Parse(source).GetAddressBytes().CopyTo(packet, 12);
        IPAddress.Parse(destination).GetAddressBytes().CopyTo(packet, 16);
        payload.CopyTo(packet, 20);
        return packet;
    }
}
