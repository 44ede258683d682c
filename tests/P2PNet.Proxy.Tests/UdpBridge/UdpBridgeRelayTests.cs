using System.Net;
using System.Net.Sockets;
using P2PNet.Proxy.UdpBridge;

namespace P2PNet.Proxy.Tests.UdpBridge;

/// <summary>
/// Datagrams relayed both ways between a real ClientWebSocket and real UDP sockets on loopback; run once with the
/// batched system calls (sendmmsg/recvmmsg, where the platform has them) and once with a managed call per datagram.
/// </summary>
public abstract class UdpBridgeRelayTests
{
    /// <summary>Whether the bridge under test batches with sendmmsg/recvmmsg.</summary>
    protected abstract bool UseBatchedSystemCalls { get; }

    private Task<TestBridge> StartBridgeAsync(Action<UdpBridgeOptions>? configure = null) =>
        TestBridge.StartAsync(options =>
        {
            options.UseBatchedSystemCalls = UseBatchedSystemCalls;
            configure?.Invoke(options);
        });

    [Fact]
    public async Task Greeting_AnnouncesTheClientsUdpEndpoint()
    {
        await using TestBridge bridge = await StartBridgeAsync();
        await using BridgeClient client = await bridge.ConnectAsync();

        Assert.Equal(IPAddress.Loopback, client.Announced.Address);
        Assert.InRange(client.Announced.Port, 1, 65535);

        // The announced endpoint is real: a datagram sent to it arrives at the browser.
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        peer.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        await peer.SendToAsync(new byte[] { 1, 2, 3 }, client.Announced).WaitAsync(BridgeClient.Timeout);
        (IPEndPoint source, byte[] payload) = await client.ReceiveAsync();
        Assert.Equal(peer.LocalEndPoint, source);
        Assert.Equal(new byte[] { 1, 2, 3 }, payload);
    }

    [Fact]
    public async Task Greeting_WithExternalAddress_AnnouncesIt()
    {
        await using TestBridge bridge = await StartBridgeAsync(o => o.ExternalAddress = IPAddress.Parse("203.0.113.7"));
        await using BridgeClient client = await bridge.ConnectAsync();

        Assert.Equal(IPAddress.Parse("203.0.113.7"), client.Announced.Address);
    }

    [Fact]
    public async Task Datagram_ToIPv4EchoServer_ComesBackNamingItsSource()
    {
        await using TestBridge bridge = await StartBridgeAsync();
        await using var echo = new UdpEchoServer(IPAddress.Loopback);
        await using BridgeClient client = await bridge.ConnectAsync();

        await client.SendAsync(echo.EndPoint, "hello over udp"u8);
        (IPEndPoint source, byte[] payload) = await client.ReceiveAsync();

        Assert.Equal(echo.EndPoint, source);
        Assert.Equal("hello over udp"u8.ToArray(), payload);
    }

    [Fact]
    public async Task Datagram_ToIPv6EchoServer_ComesBackNamingItsIPv6Source()
    {
        await using TestBridge bridge = await StartBridgeAsync();
        await using var echo = new UdpEchoServer(IPAddress.IPv6Loopback);
        await using BridgeClient client = await bridge.ConnectAsync();

        await client.SendAsync(echo.EndPoint, [0xde, 0xad, 0xbe, 0xef]);
        (IPEndPoint source, byte[] payload) = await client.ReceiveAsync();

        Assert.Equal(echo.EndPoint, source);
        Assert.Equal(AddressFamily.InterNetworkV6, source.AddressFamily);
        Assert.Equal(new byte[] { 0xde, 0xad, 0xbe, 0xef }, payload);
    }

    [Fact]
    public async Task Datagram_ToIPv4MappedIPv6Destination_ReachesTheIPv4Server()
    {
        await using TestBridge bridge = await StartBridgeAsync();
        await using var echo = new UdpEchoServer(IPAddress.Loopback);
        await using BridgeClient client = await bridge.ConnectAsync();

        // Family byte 6 with ::ffff:127.0.0.1: judged and sent as the IPv4 address it is; the reply names IPv4.
        var mapped = new IPEndPoint(IPAddress.Loopback.MapToIPv6(), echo.EndPoint.Port);
        byte[] frame = [6, .. mapped.Address.GetAddressBytes(), (byte)(mapped.Port >> 8), (byte)mapped.Port, 42];
        await client.SendRawAsync(frame);
        (IPEndPoint source, byte[] payload) = await client.ReceiveAsync();

        Assert.Equal(echo.EndPoint, source);
        Assert.Equal(new byte[] { 42 }, payload);
    }

    [Fact]
    public async Task EmptyAndMaximalDatagrams_AreRelayed()
    {
        await using TestBridge bridge = await StartBridgeAsync(o => o.MaxDatagramSize = 1000);
        await using var echo = new UdpEchoServer(IPAddress.Loopback);
        await using BridgeClient client = await bridge.ConnectAsync();

        byte[] maximal = Enumerable.Range(0, 1000).Select(i => (byte)i).ToArray();
        await client.SendAsync(echo.EndPoint, []);
        await client.SendAsync(echo.EndPoint, maximal);

        Assert.Empty((await client.ReceiveAsync()).Payload);
        Assert.Equal(maximal, (await client.ReceiveAsync()).Payload);
    }

    [Fact]
    public async Task FiveHundredRoundTrips_AllArriveIntact()
    {
        await using TestBridge bridge = await StartBridgeAsync(o => o.MaxDatagramsPerSecond = 0);
        await using var echo = new UdpEchoServer(IPAddress.Loopback);
        await using BridgeClient client = await bridge.ConnectAsync();

        var random = new Random(6);
        for (int i = 0; i < 500; i++)
        {
            byte[] payload = new byte[random.Next(0, 1400)];
            random.NextBytes(payload);
            await client.SendAsync(echo.EndPoint, payload);
            Assert.Equal(payload, (await client.ReceiveAsync()).Payload);
        }
    }

    [Fact]
    public async Task InboundBurst_ArrivesCompleteAndInOrder()
    {
        // More than the writer's deferred-flush allowance (16 KiB) in one burst, small enough for the socket's queue.
        await using TestBridge bridge = await StartBridgeAsync(o => o.MaxDatagramsPerSecond = 0);
        await using BridgeClient client = await bridge.ConnectAsync();
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        peer.Bind(new IPEndPoint(IPAddress.Loopback, 0));

        for (int i = 0; i < 64; i++)
        {
            byte[] payload = new byte[600];
            payload[0] = (byte)i;
            await peer.SendToAsync(payload, client.Announced).WaitAsync(BridgeClient.Timeout);
        }

        for (int i = 0; i < 64; i++)
        {
            (IPEndPoint source, byte[] payload) = await client.ReceiveAsync();
            Assert.Equal(peer.LocalEndPoint, source);
            Assert.Equal(600, payload.Length);
            Assert.Equal((byte)i, payload[0]);
        }
    }

    [Fact]
    public async Task BurstsOfExactlyOneReceiveBatch_AreEachDeliveredWithoutAnotherDatagram()
    {
        // A burst that fills the writer's receive batch exactly and then stops: the frames must leave without waiting
        // for a later datagram (the managed path used to go round again into a receive that waits).
        await using TestBridge bridge = await StartBridgeAsync(o => o.MaxDatagramsPerSecond = 0);
        await using BridgeClient client = await bridge.ConnectAsync();
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        peer.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        int slots;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            slots = new P2PNet.Proxy.UdpBridge.Internal.UdpReceiveBatch(probe, new UdpBridgeOptions().MaxDatagramSize, UseBatchedSystemCalls).Slots;
        }

        for (int round = 0; round < 20; round++)
        {
            for (int i = 0; i < slots; i++)
            {
                peer.SendTo([(byte)round, (byte)i], client.Announced); // back to back: the batch finds them all queued
            }
            for (int i = 0; i < slots; i++)
            {
                (_, byte[] payload) = await client.ReceiveAsync();
                Assert.Equal(new[] { (byte)round, (byte)i }, payload);
            }
        }
    }

    [Fact]
    public async Task TwoClients_GetTheirOwnUdpSockets_AndOnlyTheirOwnReplies()
    {
        await using TestBridge bridge = await StartBridgeAsync();
        await using var echo = new UdpEchoServer(IPAddress.Loopback);
        await using BridgeClient first = await bridge.ConnectAsync();
        await using BridgeClient second = await bridge.ConnectAsync();

        Assert.NotEqual(first.Announced.Port, second.Announced.Port);
        await first.SendAsync(echo.EndPoint, "first"u8);
        await second.SendAsync(echo.EndPoint, "second"u8);

        Assert.Equal("first"u8.ToArray(), (await first.ReceiveAsync()).Payload);
        Assert.Equal("second"u8.ToArray(), (await second.ReceiveAsync()).Payload);
    }

    [Fact]
    public async Task Metrics_CountClientsDatagramsAndBytesEachWay()
    {
        await using TestBridge bridge = await StartBridgeAsync();
        await using var echo = new UdpEchoServer(IPAddress.Loopback);
        BridgeClient client = await bridge.ConnectAsync();
        await bridge.Metrics.WaitForAsync(1, "p2pnet.bridge.clients.active");

        await client.SendAsync(echo.EndPoint, new byte[10]);
        await client.ReceiveAsync();
        await client.SendAsync(echo.EndPoint, new byte[20]);
        await client.ReceiveAsync();

        await bridge.Metrics.WaitForAsync(2, "p2pnet.bridge.datagrams.relayed", "direction=to_udp");
        await bridge.Metrics.WaitForAsync(2, "p2pnet.bridge.datagrams.relayed", "direction=to_websocket");
        Assert.Equal(30, bridge.Metrics.Total("p2pnet.bridge.bytes.relayed", "direction=to_udp"));
        Assert.Equal(30, bridge.Metrics.Total("p2pnet.bridge.bytes.relayed", "direction=to_websocket"));

        await client.DisposeAsync();
        await bridge.Metrics.WaitForAsync(1, "p2pnet.bridge.clients.closed", "reason=client");
        Assert.Equal(0, bridge.Metrics.Total("p2pnet.bridge.clients.active"));
    }

    [Fact]
    public async Task ClientClose_IsAnsweredWithTheSameCode()
    {
        await using TestBridge bridge = await StartBridgeAsync();
        await using BridgeClient client = await bridge.ConnectAsync();

        await client.WebSocket.CloseAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None)
            .WaitAsync(BridgeClient.Timeout);

        Assert.Equal(System.Net.WebSockets.WebSocketState.Closed, client.WebSocket.State);
        Assert.Equal(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, client.WebSocket.CloseStatus);
    }

    [Fact]
    public async Task OutboundBurst_ArrivesCompleteAndInOrder()
    {
        // Messages sent back to back queue up on the connection, so the bridge sends them to UDP as batches.
        await using TestBridge bridge = await StartBridgeAsync(o => o.MaxDatagramsPerSecond = 0);
        await using BridgeClient client = await bridge.ConnectAsync();
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveBufferSize = 1024 * 1024 };
        peer.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var destination = (IPEndPoint)peer.LocalEndPoint!;

        const int count = 300;
        for (int i = 0; i < count; i++)
        {
            byte[] payload = new byte[1 + (i % 7 * 150)];
            payload[0] = (byte)i;
            await client.SendAsync(destination, payload);
        }

        byte[] buffer = new byte[2048];
        for (int i = 0; i < count; i++)
        {
            SocketReceiveFromResult result = await peer.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0)).WaitAsync(BridgeClient.Timeout);
            Assert.Equal(1 + (i % 7 * 150), result.ReceivedBytes);
            Assert.Equal((byte)i, buffer[0]);
            Assert.Equal(client.Announced.Port, ((IPEndPoint)result.RemoteEndPoint).Port);
        }

        await bridge.Metrics.WaitForAsync(count, "p2pnet.bridge.datagrams.relayed", "direction=to_udp");
        Assert.Equal(Enumerable.Range(0, count).Sum(i => 1 + (i % 7 * 150)), bridge.Metrics.Total("p2pnet.bridge.bytes.relayed", "direction=to_udp"));
    }

    [Fact]
    public async Task OutboundBurst_ToRefusedDestinationsInBetween_RelaysOnlyTheAllowedOnes()
    {
        await using TestBridge bridge = await StartBridgeAsync(o => o.MaxDatagramsPerSecond = 0);
        await using BridgeClient client = await bridge.ConnectAsync();
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        peer.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var refused = new IPEndPoint(IPAddress.Parse("10.1.2.3"), 9);

        for (int i = 0; i < 40; i++)
        {
            await client.SendAsync(i % 2 == 0 ? (IPEndPoint)peer.LocalEndPoint! : refused, [(byte)i]);
        }

        byte[] buffer = new byte[16];
        for (int i = 0; i < 40; i += 2)
        {
            int n = await peer.ReceiveAsync(buffer.AsMemory()).AsTask().WaitAsync(BridgeClient.Timeout);
            Assert.Equal(1, n);
            Assert.Equal((byte)i, buffer[0]);
        }

        await bridge.Metrics.WaitForAsync(20, "p2pnet.bridge.datagrams.dropped", "reason=destination_refused", "direction=to_udp");
        await bridge.Metrics.WaitForAsync(20, "p2pnet.bridge.datagrams.relayed", "direction=to_udp");
    }

    [Fact]
    public async Task MalformedMessage_AfterABurst_StillRelaysTheBurstThenCloses()
    {
        await using TestBridge bridge = await StartBridgeAsync(o => o.MaxDatagramsPerSecond = 0);
        await using BridgeClient client = await bridge.ConnectAsync();
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        peer.Bind(new IPEndPoint(IPAddress.Loopback, 0));

        for (int i = 0; i < 20; i++)
        {
            await client.SendAsync((IPEndPoint)peer.LocalEndPoint!, [(byte)i]);
        }

        await client.SendRawAsync([9]);
        (System.Net.WebSockets.WebSocketCloseStatus? status, _) = await client.ReceiveCloseAsync();
        Assert.Equal((System.Net.WebSockets.WebSocketCloseStatus)1007, status);

        byte[] buffer = new byte[16];
        for (int i = 0; i < 20; i++)
        {
            await peer.ReceiveAsync(buffer.AsMemory()).AsTask().WaitAsync(BridgeClient.Timeout);
            Assert.Equal((byte)i, buffer[0]);
        }
    }

    [Fact]
    public async Task InboundBurst_WithOversizeDatagramsInBetween_DropsOnlyThose()
    {
        await using TestBridge bridge = await StartBridgeAsync(o =>
        {
            o.MaxDatagramsPerSecond = 0;
            o.MaxDatagramSize = 100;
        });
        await using BridgeClient client = await bridge.ConnectAsync();
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        peer.Bind(new IPEndPoint(IPAddress.Loopback, 0));

        for (int i = 0; i < 60; i++)
        {
            byte[] payload = new byte[i % 3 == 1 ? 101 : 100];
            payload[0] = (byte)i;
            await peer.SendToAsync(payload, client.Announced).WaitAsync(BridgeClient.Timeout);
        }

        for (int i = 0; i < 60; i++)
        {
            if (i % 3 == 1)
            {
                continue;
            }

            (_, byte[] payload) = await client.ReceiveAsync();
            Assert.Equal(100, payload.Length);
            Assert.Equal((byte)i, payload[0]);
        }

        await bridge.Metrics.WaitForAsync(20, "p2pnet.bridge.datagrams.dropped", "reason=oversize", "direction=to_websocket");
        Assert.Equal(40, bridge.Metrics.Total("p2pnet.bridge.datagrams.relayed", "direction=to_websocket"));
    }
}

/// <summary>The relay tests with sendmmsg/recvmmsg batching (64-bit Linux; the tests fail elsewhere rather than test the fallback twice).</summary>
public sealed class BatchedUdpBridgeRelayTests : UdpBridgeRelayTests
{
    /// <summary>Fails every test of the class where the batched calls are unsupported, instead of relaying through the fallback.</summary>
    public BatchedUdpBridgeRelayTests() => UdpDatagramBatchTests.AssertPath(true, Proxy.UdpBridge.Internal.LinuxDatagrams.IsSupported);

    protected override bool UseBatchedSystemCalls => true;
}

/// <summary>The relay tests with the managed fallback: one socket call per datagram.</summary>
public sealed class ManagedUdpBridgeRelayTests : UdpBridgeRelayTests
{
    protected override bool UseBatchedSystemCalls => false;
}
