using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using P2PNet.Proxy.UdpBridge.Internal;
using P2PNet.Transports.WebSockets.Internal;
using P2PNet.Testing.IO;

namespace P2PNet.Proxy.Tests.UdpBridge;

/// <summary>The standalone bridge's own WebSocket opening handshake: the parser, then real requests on the wire.</summary>
public sealed class WebSocketHandshakeTests
{
    private const string Request =
        "GET /udp?x=1&access_token=a%2Bb HTTP/1.1\r\nHost: bridge\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://app.example\r\n"
        + "authorization: Bearer t\r\n\r\n";

    [Fact]
    public void TryParse_CompleteRequest_ReadsWhatTheBridgeNeeds()
    {
        byte[] bytes = Encoding.ASCII.GetBytes(Request + "\x82\x80");

        Assert.True(WebSocketHandshake.TryParse(new ReadOnlySequence<byte>(bytes), out WebSocketHandshake? request, out SequencePosition consumed));

        Assert.NotNull(request);
        Assert.True(request.IsWebSocketRequest);
        Assert.True(request.HasValidKey);
        Assert.Equal("/udp", request.Path);
        Assert.Equal("13", request.Version);
        Assert.Equal("https://app.example", request.Origin);
        Assert.Equal("Bearer t", request.Authorization);
        Assert.Equal("a+b", request.GetQueryValue("access_token"));
        Assert.Null(request.GetQueryValue("missing"));
        Assert.Equal(Request.Length, new ReadOnlySequence<byte>(bytes).Slice(0, consumed).Length);
    }

    [Fact]
    public void TryParse_SplitAtEveryOffset_ParsesTheSame()
    {
        byte[] bytes = Encoding.ASCII.GetBytes(Request);
        for (int split = 1; split < bytes.Length; split++)
        {
            Assert.False(WebSocketHandshake.TryParse(new ReadOnlySequence<byte>(bytes, 0, split), out _, out _));
            ReadOnlySequence<byte> twoSegments = SequenceSegments.FromMemory(bytes.AsMemory(0, split), bytes.AsMemory(split));
            Assert.True(WebSocketHandshake.TryParse(twoSegments, out WebSocketHandshake? request, out _));
            Assert.Equal("/udp", request!.Path);
        }
    }

    [Fact]
    public void ComputeAccept_MatchesTheRfc6455Example() =>
        Assert.Equal("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", WebSocketHandshake.ComputeAccept("dGhlIHNhbXBsZSBub25jZQ=="));

    [Fact]
    public void TryParse_HeadTooLong_ThrowsRequestHeadTooLargeException()
    {
        byte[] bytes = Encoding.ASCII.GetBytes("GET /udp HTTP/1.1\r\nX: " + new string('a', WebSocketHandshake.MaxHeadLength));

        Assert.Throws<RequestHeadTooLargeException>(() => WebSocketHandshake.TryParse(new ReadOnlySequence<byte>(bytes), out _, out _));
    }

    [Property(MaxTest = 2000)]
    public Property Property_ArbitraryBytes_NeedMoreParseOrThrowOnlyWireFormatException()
    {
        Gen<byte[]> heads = Gen.OneOf(
            Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>()),
            Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>()).Select(b => (byte[])[.. b, .. "\r\n\r\n"u8.ToArray()]),
            Gen.ArrayOf(Gen.Elements("GET", " ", "/udp", "HTTP/1.1", "\r\n", ":", "Upgrade", "websocket", "?", "=", "&"))
                .Select(parts => Encoding.ASCII.GetBytes(string.Concat(parts) + "\r\n\r\n")));

        return Prop.ForAll(heads.ToArbitrary(), bytes =>
        {
            try
            {
                bool complete = WebSocketHandshake.TryParse(new ReadOnlySequence<byte>(bytes), out WebSocketHandshake? request, out _);
                if (complete != (request is not null))
                {
                    return false;
                }

                _ = request?.IsWebSocketRequest;
                _ = request?.HasValidKey;
                _ = request?.GetQueryValue("access_token");
                return true;
            }
            catch (WireFormatException)
            {
                return true;
            }
            catch (UriFormatException)
            {
                return false;
            }
        });
    }

    [Theory]
    [InlineData("GET /other HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", "404")]
    [InlineData("GET /udp HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n", "426")]
    [InlineData("GET /udp HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n", "400")]
    [InlineData("POST /udp HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "400")]
    [InlineData("this is not http\r\n\r\n", "400")]
    public async Task StandaloneBridge_RefusesBadUpgradeRequests_WithAStatus(string request, string status)
    {
        await using TestBridge bridge = await TestBridge.StartAsync();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, bridge.Url.Port)).WaitAsync(BridgeClient.Timeout);

        await socket.SendAsync(Encoding.ASCII.GetBytes(request)).WaitAsync(BridgeClient.Timeout);
        string response = await ReadToEndAsync(socket);

        Assert.StartsWith($"HTTP/1.1 {status} ", response, StringComparison.Ordinal);
        Assert.Contains("Connection: close", response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StandaloneBridge_RequestHeadTooLarge_IsRefusedWith431AndClosed()
    {
        await using TestBridge bridge = await TestBridge.StartAsync();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, bridge.Url.Port)).WaitAsync(BridgeClient.Timeout);

        await socket.SendAsync(Encoding.ASCII.GetBytes("GET /udp HTTP/1.1\r\nX: " + new string('a', 10_000))).WaitAsync(BridgeClient.Timeout);
        string response = await ReadToEndAsync(socket);

        Assert.StartsWith("HTTP/1.1 431 ", response, StringComparison.Ordinal);
        Assert.Equal(1, bridge.Metrics.Total("p2pnet.bridge.connections.rejected", "reason=headers_too_large"));
    }

    [Fact]
    public void TryParse_SubProtocolHeaders_AreSplitIntoEntries()
    {
        byte[] bytes = Encoding.ASCII.GetBytes("GET /udp HTTP/1.1\r\nSec-WebSocket-Protocol: p2pnet.udp, p2pnet.token.abc\r\n"
            + "sec-websocket-protocol: other\r\n\r\n");

        Assert.True(WebSocketHandshake.TryParse(new ReadOnlySequence<byte>(bytes), out WebSocketHandshake? request, out _));
        Assert.Equal(["p2pnet.udp", "p2pnet.token.abc", "other"], request!.SubProtocols);
    }

    internal static async Task<string> ReadToEndAsync(Socket socket)
    {
        var received = new MemoryStream();
        var buffer = new byte[4096];
        int n;
        while ((n = await socket.ReceiveAsync(buffer).WaitAsync(BridgeClient.Timeout)) > 0)
        {
            received.Write(buffer, 0, n);
        }

        return Encoding.ASCII.GetString(received.ToArray());
    }
}
