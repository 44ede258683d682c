using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using P2PNet.Testing;
using P2PNet.Vpn.Gateway;
using P2PNet.Vpn.Gateway.Internal;
using P2PNet.Vpn.Internal;
using P2PNet.Vpn.NetStack;
using P2PNet.Vpn.NetStack.Internal;
using P2PNet.Vpn.Tests.NetStack;

namespace P2PNet.Vpn.Tests.Gateway;

/// <summary>The rootless egress against real servers on loopback: a member's user-space stack on one end of a packet
/// device, the egress on the other, the servers reached through ordinary OS sockets.</summary>
public class RootlessEgressTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Tcp_CarriesSixteenMebibytesEachWay_WithHalfClose()
    {
        const long Size = 16L * 1024 * 1024;
        using var cts = new CancellationTokenSource(Timeout);
        await using var pair = await EgressPair.StartAsync();
        using var server = new TcpListener(IPAddress.Loopback, 0);
        server.Start();
        var accept = server.AcceptSocketAsync(cts.Token);
        await using var client = await pair.Stack.ConnectTcpAsync(IPAddress.Loopback, Port(server), cts.Token);
        using var serverSide = await accept.AsTask().WaitAsync(cts.Token);

        // Member → server, then the member's FIN: the server reads to its end while the member can still read.
        var serverReads = NetStackTransfer.ReceiveAsync(NetStackTransfer.Reader(serverSide), cts.Token);
        byte[] sentUp = await NetStackTransfer.SendAsync(NetStackTransfer.Writer(client), Size, seed: 1, cts.Token);
        client.CompleteWrites();
        var (receivedUp, lengthUp) = await serverReads.WaitAsync(cts.Token);
        Assert.Equal(Size, lengthUp);
        Assert.Equal(sentUp, receivedUp);

        // Server → the half-closed member, then the server's FIN.
        var clientReads = NetStackTransfer.ReceiveAsync(NetStackTransfer.Reader(client), cts.Token);
        byte[] sentDown = await NetStackTransfer.SendAsync(NetStackTransfer.Writer(serverSide), Size, seed: 2, cts.Token);
        serverSide.Shutdown(SocketShutdown.Send);
        var (receivedDown, lengthDown) = await clientReads.WaitAsync(cts.Token);
        Assert.Equal(Size, lengthDown);
        Assert.Equal(sentDown, receivedDown);

        await Conditions.WaitUntilAsync(() => pair.Egress.GetStatistics().TcpFlowsOpen == 0, Short, () => $"the flow is still open: {pair.Egress.GetStatistics()}", cts.Token);
        var stats = pair.Egress.GetStatistics();
        Assert.Equal(1, stats.TcpFlowsTotal);
        Assert.Equal(Size, stats.BytesToInternet);
        Assert.Equal(Size, stats.BytesFromInternet);
        Assert.Equal(0, pair.Egress.InternalErrors);
    }

    [Fact]
    public async Task HttpGet_ThroughTheEgress_ReturnsTheServersBody()
    {
        using var cts = new CancellationTokenSource(Timeout);
        await using var pair = await EgressPair.StartAsync();
        byte[] body = new byte[300_000];
        new Random(7).NextBytes(body);
        using var server = new TcpListener(IPAddress.Loopback, 0);
        server.Start();
        var serving = ServeOneHttpGetAsync(server, body, cts.Token);

        await using var client = await pair.Stack.ConnectTcpAsync(IPAddress.Loopback, Port(server), cts.Token);
        await client.WriteAsync(Encoding.ASCII.GetBytes($"GET /blob HTTP/1.1\r\nHost: 127.0.0.1:{Port(server)}\r\nConnection: close\r\n\r\n"), cts.Token);
        using var response = new MemoryStream();
        await client.GetStream().CopyToAsync(response, cts.Token);
        await serving.WaitAsync(cts.Token);

        byte[] bytes = response.ToArray();
        int headerEnd = bytes.AsSpan().IndexOf("\r\n\r\n"u8) + 4;
        string header = Encoding.ASCII.GetString(bytes, 0, headerEnd);
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", header, StringComparison.Ordinal);
        Assert.Equal(SHA256.HashData(body), SHA256.HashData(bytes.AsSpan(headerEnd)));
    }

    [Fact]
    public async Task Connect_ToARefusedPort_FailsAsRefused_Quickly()
    {
        using var cts = new CancellationTokenSource(Timeout);
        await using var pair = await EgressPair.StartAsync();
        int port = ClosedPort();
        var watch = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<TcpConnectionException>(() => pair.Stack.ConnectTcpAsync(IPAddress.Loopback, port, cts.Token));
        Assert.Equal(TcpError.ConnectionRefused, error.Error);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"refusal took {watch.Elapsed}");
        await Conditions.WaitUntilAsync(() => pair.Egress.GetStatistics().TcpFlowsOpen == 0, Short, "the failed flow ends", cts.Token);
        Assert.Equal(1, pair.Egress.GetStatistics().TcpConnectFailures);
    }

    [Fact]
    public async Task Connect_ThatTimesOut_IsRefusedWithReset()
    {
        using var cts = new CancellationTokenSource(Timeout);
        await using var pair = await EgressPair.StartAsync(new RootlessEgressOptions { ConnectTimeout = TimeSpan.FromMilliseconds(500) });
        await using var blackHole = await BlackHoleListener.StartAsync(cts.Token);
        var error = await Assert.ThrowsAsync<TcpConnectionException>(() => pair.Stack.ConnectTcpAsync(IPAddress.Loopback, blackHole.Port, cts.Token));
        Assert.Equal(TcpError.ConnectionRefused, error.Error);
        await Conditions.WaitUntilAsync(() => pair.Egress.GetStatistics().TcpFlowsOpen == 0, Short, "the timed-out flow ends", cts.Token);
        Assert.Equal(1, pair.Egress.GetStatistics().TcpConnectFailures);
    }

    [Fact]
    public async Task PendingConnects_AtTheLimit_DropFurtherSyns()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var options = new RootlessEgressOptions { MaxPendingConnects = 2, ConnectTimeout = TimeSpan.FromSeconds(30) };
        await using var pair = await EgressPair.StartAsync(options, clientStack: false);
        await using var blackHole = await BlackHoleListener.StartAsync(cts.Token);
        uint loopback = EgressPair.Value(IPAddress.Loopback);
        for (int i = 0; i < 5; i++)
        {
            await pair.SendRawAsync(EgressPair.TcpSegment(EgressPair.Member, (ushort)(30000 + i), loopback, (ushort)blackHole.Port, 100, 0, TcpFlags.Syn));
        }
        await Conditions.WaitUntilAsync(() => pair.Egress.GetStatistics().PacketsReceived == 5, Short, "the egress takes the SYNs", cts.Token);
        var stats = pair.Egress.GetStatistics();
        Assert.Equal(2, stats.TcpFlowsOpen);
        Assert.Equal(3, stats.DropCount(RootlessEgressDropReason.PendingConnectLimit));
    }

    [Fact]
    public async Task Udp_FromTwoMemberPorts_KeepsTheFlowsApart()
    {
        using var cts = new CancellationTokenSource(Timeout);
        await using var pair = await EgressPair.StartAsync();
        using var server = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        server.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var serverEndPoint = (IPEndPoint)server.LocalEndPoint!;
        var sources = new List<EndPoint>();
        var echo = EchoUdpAsync(server, count: 4, sources, cts.Token);

        using var first = pair.Stack.BindUdp();
        using var second = pair.Stack.BindUdp();
        for (int round = 0; round < 2; round++)
        {
            await first.SendToAsync(Encoding.ASCII.GetBytes($"first {round}"), serverEndPoint, cts.Token);
            await second.SendToAsync(Encoding.ASCII.GetBytes($"second {round}"), serverEndPoint, cts.Token);
            Assert.Equal($"echo: first {round}", await ReceiveTextAsync(first, serverEndPoint, cts.Token));
            Assert.Equal($"echo: second {round}", await ReceiveTextAsync(second, serverEndPoint, cts.Token));
        }
        await echo.WaitAsync(cts.Token);
        Assert.Equal(2, sources.Distinct().Count()); // one OS socket (and source port) per member port
        var stats = pair.Egress.GetStatistics();
        Assert.Equal(2, stats.UdpFlowsOpen);
        Assert.Equal(2, stats.UdpFlowsTotal);
    }

    [Fact]
    public async Task Udp_ReplyLargerThanTheMtu_ArrivesInFragments_AndIsReassembled()
    {
        using var cts = new CancellationTokenSource(Timeout);
        await using var pair = await EgressPair.StartAsync();
        using var server = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        server.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var serverEndPoint = (IPEndPoint)server.LocalEndPoint!;
        byte[] big = new byte[6000];
        new Random(3).NextBytes(big);
        var answer = Task.Run(async () =>
        {
            byte[] buffer = new byte[2048];
            var request = await server.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), cts.Token);
            await server.SendToAsync(big, SocketFlags.None, request.RemoteEndPoint, cts.Token);
        }, cts.Token);

        using var socket = pair.Stack.BindUdp();
        await socket.SendToAsync("send it"u8.ToArray(), serverEndPoint, cts.Token);
        byte[] received = new byte[8192];
        var datagram = await socket.ReceiveFromAsync(received, cts.Token);
        await answer.WaitAsync(cts.Token);
        Assert.Equal(serverEndPoint, datagram.RemoteEndPoint);
        Assert.Equal(big, received[..datagram.Length]);
    }

    [Fact]
    public async Task Udp_FragmentedByTheMember_IsReassembled_AndSentWhole()
    {
        using var cts = new CancellationTokenSource(Timeout);
        await using var pair = await EgressPair.StartAsync(clientStack: false);
        using var server = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        server.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        int port = ((IPEndPoint)server.LocalEndPoint!).Port;
        byte[] payload = new byte[5000];
        new Random(5).NextBytes(payload);
        byte[] whole = new byte[28 + payload.Length];
        int length = EgressPackets.WriteUdp(whole, EgressPair.Member, 6000, EgressPair.Value(IPAddress.Loopback), (ushort)port, payload, id: 77);
        byte[] fragment = new byte[1420];
        int count = EgressPackets.FragmentCount(length, 1420);
        Assert.True(count > 1);
        for (int i = 0; i < count; i++)
        {
            int n = EgressPackets.WriteFragment(whole.AsSpan(0, length), i, 1420, fragment);
            await pair.SendRawAsync(fragment.AsMemory(0, n).ToArray());
        }
        byte[] received = new byte[8192];
        var datagram = await server.ReceiveFromAsync(received, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), cts.Token);
        Assert.Equal(payload, received[..datagram.ReceivedBytes]);

        // The same fragments with the first one overlapping the second are dropped as a whole, and counted.
        byte[] overlapping = new byte[1420];
        int first = EgressPackets.WriteFragment(whole.AsSpan(0, length), 0, 1420, overlapping);
        BinaryPrimitives.WriteUInt16BigEndian(overlapping.AsSpan(4), 78);
        int second = EgressPackets.WriteFragment(whole.AsSpan(0, length), 1, 1420, fragment);
        BinaryPrimitives.WriteUInt16BigEndian(fragment.AsSpan(4), 78);
        BinaryPrimitives.WriteUInt16BigEndian(fragment.AsSpan(6), (ushort)(0x2000 | 8)); // offset 64: inside the first
        RewriteHeaderChecksum(overlapping);
        RewriteHeaderChecksum(fragment);
        await pair.SendRawAsync(overlapping.AsMemory(0, first).ToArray());
        await pair.SendRawAsync(fragment.AsMemory(0, second).ToArray());
        await Conditions.WaitUntilAsync(() => pair.Egress.GetStatistics().DropCount(RootlessEgressDropReason.Fragment) == 1, Short,
            () => $"the overlap is counted: {pair.Egress.GetStatistics()}", cts.Token);
    }

    [Fact]
    public async Task Udp_ToAClosedPort_IsAnsweredWithPortUnreachable_FromTheDestination()
    {
        await using var pair = await EgressPair.StartAsync(clientStack: false);
        int port = ClosedUdpPort();
        uint loopback = EgressPair.Value(IPAddress.Loopback);
        await pair.SendRawAsync(EgressPair.UdpDatagram(EgressPair.Member, 6001, loopback, (ushort)port, "anyone?"u8));
        byte[] error = await pair.ReadRawAsync(Short);
        Assert.True(IpPacket.TryParse(error, out var ip, out _));
        Assert.Equal(IpPacket.ProtocolIcmp, ip.Protocol);
        Assert.Equal(loopback, ip.Source);
        var icmp = error.AsSpan(ip.HeaderLength, ip.PayloadLength);
        Assert.Equal(3, icmp[0]);
        Assert.Equal(3, icmp[1]);
        Assert.Equal(0, Segmenter.Finish(Segmenter.Sum(icmp)));
        Assert.Equal(EgressPair.Member, BinaryPrimitives.ReadUInt32BigEndian(icmp[20..])); // the quoted datagram's source
        Assert.Equal(6001, BinaryPrimitives.ReadUInt16BigEndian(icmp[28..]));
        Assert.Equal(port, BinaryPrimitives.ReadUInt16BigEndian(icmp[30..]));
    }

    [Fact]
    public async Task Ping_ToLoopback_IsAnsweredFromTheDestination()
    {
        await using var pair = await EgressPair.StartAsync(clientStack: false);
        byte[] data = Encoding.ASCII.GetBytes("rootless ping payload");
        await pair.SendRawAsync(EgressPair.EchoRequest(EgressPair.Member, EgressPair.Value(IPAddress.Loopback), 0x4242, 7, data));
        byte[] reply = await pair.ReadRawAsync(Short);
        AssertEchoReply(reply, IPAddress.Loopback, 0x4242, 7, data);
        Assert.Equal(1, pair.Egress.GetStatistics().PingsAnswered);
    }

    [Fact]
    public async Task LocalAddress_AnswersEcho_ResetsTcp_AndDropsUdp()
    {
        await using var pair = await EgressPair.StartAsync(clientStack: false);
        uint local = EgressPair.Value(EgressPair.GatewayAddress);
        await pair.SendRawAsync(EgressPair.EchoRequest(EgressPair.Member, local, 1, 1, "hi"u8));
        AssertEchoReply(await pair.ReadRawAsync(Short), EgressPair.GatewayAddress, 1, 1, "hi"u8.ToArray());

        await pair.SendRawAsync(EgressPair.UdpDatagram(EgressPair.Member, 5000, local, 53, "query"u8));
        await pair.SendRawAsync(EgressPair.TcpSegment(EgressPair.Member, 40000, local, 22, 1000, 0, TcpFlags.Syn));
        byte[] reset = await pair.ReadRawAsync(Short);
        Assert.Equal(IpPacket.ProtocolTcp, reset[9]);
        Assert.Equal(local, BinaryPrimitives.ReadUInt32BigEndian(reset.AsSpan(12)));
        Assert.Equal((byte)(TcpFlags.Rst | TcpFlags.Ack), reset[33]);
        Assert.Equal(1001u, BinaryPrimitives.ReadUInt32BigEndian(reset.AsSpan(28)));
        Assert.Equal(2, pair.Egress.GetStatistics().DropCount(RootlessEgressDropReason.LocalAddress));
    }

    [Fact]
    public async Task IdleUdpFlow_IsClosed_AfterTheIdleTimeout()
    {
        using var cts = new CancellationTokenSource(Timeout);
        await using var pair = await EgressPair.StartAsync(new RootlessEgressOptions { UdpIdleTimeout = TimeSpan.FromMilliseconds(500) });
        using var server = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        server.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var serverEndPoint = (IPEndPoint)server.LocalEndPoint!;
        var echo = EchoUdpAsync(server, count: 2, [], cts.Token);
        using var socket = pair.Stack.BindUdp();

        await socket.SendToAsync("one"u8.ToArray(), serverEndPoint, cts.Token);
        Assert.Equal("echo: one", await ReceiveTextAsync(socket, serverEndPoint, cts.Token));
        await Conditions.WaitUntilAsync(() => pair.Egress.GetStatistics().UdpFlowsOpen == 0, Short, "the idle UDP flow closes", cts.Token);

        await socket.SendToAsync("two"u8.ToArray(), serverEndPoint, cts.Token); // a new flow
        Assert.Equal("echo: two", await ReceiveTextAsync(socket, serverEndPoint, cts.Token));
        await echo.WaitAsync(cts.Token);
        Assert.Equal(2, pair.Egress.GetStatistics().UdpFlowsTotal);
    }

    [Fact]
    public async Task IdleTcpFlow_IsReset_OnBothSides_AfterTheIdleTimeout()
    {
        using var cts = new CancellationTokenSource(Timeout);
        await using var pair = await EgressPair.StartAsync(new RootlessEgressOptions { TcpIdleTimeout = TimeSpan.FromMilliseconds(500) });
        using var server = new TcpListener(IPAddress.Loopback, 0);
        server.Start();
        var accept = server.AcceptSocketAsync(cts.Token);
        await using var client = await pair.Stack.ConnectTcpAsync(IPAddress.Loopback, Port(server), cts.Token);
        using var serverSide = await accept.AsTask().WaitAsync(cts.Token);

        var error = await Assert.ThrowsAsync<TcpConnectionException>(async () => await client.ReadAsync(new byte[16], cts.Token));
        Assert.Equal(TcpError.ConnectionReset, error.Error);
        await Assert.ThrowsAsync<SocketException>(async () => await serverSide.ReceiveAsync(new byte[16], SocketFlags.None, cts.Token));
        await Conditions.WaitUntilAsync(() => pair.Egress.GetStatistics().TcpFlowsOpen == 0, Short, "the idle flow ends", cts.Token);
    }

    [Fact]
    public async Task IdleDestination_IsLetGo_OnceItHasNoFlowsLeft()
    {
        using var cts = new CancellationTokenSource(Timeout);
        await using var pair = await EgressPair.StartAsync(new RootlessEgressOptions { DestinationIdleTimeout = TimeSpan.FromMilliseconds(200) });
        await Assert.ThrowsAsync<TcpConnectionException>(() => pair.Stack.ConnectTcpAsync(IPAddress.Loopback, ClosedPort(), cts.Token));
        Assert.Equal(1, pair.Egress.GetStatistics().TcpFlowsTotal); // the destination had a stack for it
        await Conditions.WaitUntilAsync(() => pair.Egress.GetStatistics().TcpDestinations == 0, Short, "the idle destination's stack goes", cts.Token);
    }

    [Fact]
    public async Task DestinationLimit_Reached_RefusesANewDestination_UntilOneIsIdle()
    {
        using var cts = new CancellationTokenSource(Timeout);
        await using var pair = await EgressPair.StartAsync(new RootlessEgressOptions { MaxDestinations = 1 });
        using var server = new TcpListener(IPAddress.Any, 0);
        server.Start();
        await using (var held = await pair.Stack.ConnectTcpAsync(IPAddress.Loopback, Port(server), cts.Token))
        {
            var error = await Assert.ThrowsAsync<TcpConnectionException>(() => pair.Stack.ConnectTcpAsync(IPAddress.Parse("127.0.0.2"), Port(server), cts.Token));
            Assert.Equal(TcpError.ConnectionRefused, error.Error);
            Assert.Equal(1, pair.Egress.GetStatistics().DropCount(RootlessEgressDropReason.DestinationLimit));
            held.Abort();
        }
        // Once 127.0.0.1 has no flow or connection left, a new destination takes its place at once.
        await Conditions.WaitUntilAsync(() => pair.Egress.GetStatistics().TcpFlowsOpen == 0, Short, "the aborted flow ends", cts.Token);
        await using var other = await pair.Stack.ConnectTcpAsync(IPAddress.Parse("127.0.0.2"), Port(server), cts.Token);
        Assert.Equal(1, pair.Egress.GetStatistics().TcpDestinations);
    }

    [Fact]
    public async Task MaxTcpFlows_Reached_RefusesTheNextSyn_WithReset()
    {
        using var cts = new CancellationTokenSource(Timeout);
        await using var pair = await EgressPair.StartAsync(new RootlessEgressOptions { MaxTcpFlows = 2 });
        using var server = new TcpListener(IPAddress.Loopback, 0);
        server.Start();
        await using var one = await pair.Stack.ConnectTcpAsync(IPAddress.Loopback, Port(server), cts.Token);
        await using var two = await pair.Stack.ConnectTcpAsync(IPAddress.Loopback, Port(server), cts.Token);

        var error = await Assert.ThrowsAsync<TcpConnectionException>(() => pair.Stack.ConnectTcpAsync(IPAddress.Loopback, Port(server), cts.Token));
        Assert.Equal(TcpError.ConnectionRefused, error.Error);
        var stats = pair.Egress.GetStatistics();
        Assert.Equal(1, stats.DropCount(RootlessEgressDropReason.TcpFlowLimit));
        Assert.Equal(2, stats.TcpFlowsOpen);

        one.Abort(); // a slot frees up once a flow ends
        await Conditions.WaitUntilAsync(() => pair.Egress.GetStatistics().TcpFlowsOpen == 1, Short, "the aborted flow ends", cts.Token);
        await using var three = await pair.Stack.ConnectTcpAsync(IPAddress.Loopback, Port(server), cts.Token);
    }

    [Fact]
    public async Task Dispose_ResetsOpenFlows_AndClosesTheirSockets()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var pair = await EgressPair.StartAsync();
        await using var _ = pair;
        using var server = new TcpListener(IPAddress.Loopback, 0);
        server.Start();
        var accept = server.AcceptSocketAsync(cts.Token);
        await using var client = await pair.Stack.ConnectTcpAsync(IPAddress.Loopback, Port(server), cts.Token);
        using var serverSide = await accept.AsTask().WaitAsync(cts.Token);

        await pair.Egress.DisposeAsync().AsTask().WaitAsync(cts.Token);
        await Assert.ThrowsAsync<TcpConnectionException>(async () => await client.ReadAsync(new byte[16], cts.Token));
        await Assert.ThrowsAsync<SocketException>(async () => await serverSide.ReceiveAsync(new byte[16], SocketFlags.None, cts.Token));
    }

    /// <summary>A loopback listener whose accept queue is full, so the kernel drops further SYNs and connects to it
    /// hang: a destination that does not answer.</summary>
    private sealed class BlackHoleListener : IAsyncDisposable
    {
        private readonly Socket _listener;
        private readonly List<Socket> _fillers = [];

        private BlackHoleListener(Socket listener) => _listener = listener;

        public int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;

        public static async Task<BlackHoleListener> StartAsync(CancellationToken ct)
        {
            var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            listener.Listen(0);
            var hole = new BlackHoleListener(listener);
            // listen(2) with a backlog of 0: Linux queues one connection, then drops every SYN while the queue is full
            // (sk_acceptq_is_full), so once one filler is connected and never accepted, later connects hang.
            var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            hole._fillers.Add(filler);
            await filler.ConnectAsync(IPAddress.Loopback, hole.Port, ct).AsTask().WaitAsync(TimeSpan.FromSeconds(10), ct);
            return hole;
        }

        public ValueTask DisposeAsync()
        {
            foreach (var filler in _fillers)
            {
                filler.Dispose();
            }
            _listener.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    internal static void AssertEchoReply(byte[] reply, IPAddress from, ushort identifier, ushort sequence, byte[] data)
    {
        Assert.True(IpPacket.TryParse(reply, out var ip, out _), "the reply is a valid IPv4 packet");
        Assert.Equal(IpPacket.ProtocolIcmp, ip.Protocol);
        Assert.Equal(EgressPair.Value(from), ip.Source);
        Assert.Equal(EgressPair.Member, ip.Destination);
        var icmp = reply.AsSpan(ip.HeaderLength, ip.PayloadLength);
        Assert.Equal(0, icmp[0]); // echo reply
        Assert.Equal(0, Segmenter.Finish(Segmenter.Sum(icmp)));
        Assert.Equal(identifier, BinaryPrimitives.ReadUInt16BigEndian(icmp[4..]));
        Assert.Equal(sequence, BinaryPrimitives.ReadUInt16BigEndian(icmp[6..]));
        Assert.Equal(data, icmp[8..].ToArray());
    }

    private static int ClosedUdpPort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port; // nothing is bound there once the probe is closed
    }

    private static void RewriteHeaderChecksum(Span<byte> packet)
    {
        packet[10] = packet[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(packet[10..], Segmenter.Finish(Segmenter.Sum(packet[..20])));
    }

    private static int Port(TcpListener listener) => ((IPEndPoint)listener.LocalEndpoint).Port;

    private static int ClosedPort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return Port(probe); // nothing listens once the probe is stopped
    }

    private static async Task<string> ReceiveTextAsync(UdpSocket socket, IPEndPoint expectedFrom, CancellationToken ct)
    {
        byte[] buffer = new byte[2048];
        var datagram = await socket.ReceiveFromAsync(buffer, ct);
        Assert.Equal(expectedFrom, datagram.RemoteEndPoint);
        return Encoding.ASCII.GetString(buffer, 0, datagram.Length);
    }

    /// <summary>Answers <paramref name="count"/> datagrams with "echo: " and the datagram, noting each sender.</summary>
    private static Task EchoUdpAsync(Socket server, int count, List<EndPoint> sources, CancellationToken ct) => Task.Run(async () =>
    {
        byte[] buffer = new byte[2048];
        for (int i = 0; i < count; i++)
        {
            var request = await server.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), ct);
            lock (sources)
            {
                sources.Add(request.RemoteEndPoint);
            }
            byte[] answer = [.. "echo: "u8, .. buffer.AsSpan(0, request.ReceivedBytes)];
            await server.SendToAsync(answer, SocketFlags.None, request.RemoteEndPoint, ct);
        }
    }, ct);

    /// <summary>A tiny HTTP/1.1 server: one GET, answered with <paramref name="body"/>, then the connection closes.</summary>
    private static async Task ServeOneHttpGetAsync(TcpListener listener, byte[] body, CancellationToken ct)
    {
        using var socket = await listener.AcceptSocketAsync(ct);
        var request = new MemoryStream();
        byte[] buffer = new byte[4096];
        while (request.ToArray().AsSpan().IndexOf("\r\n\r\n"u8) < 0)
        {
            int n = await socket.ReceiveAsync(buffer, SocketFlags.None, ct);
            if (n == 0)
            {
                throw new InvalidOperationException("the client closed before its request was complete");
            }
            request.Write(buffer, 0, n);
        }
        Assert.StartsWith("GET /blob HTTP/1.1\r\n", Encoding.ASCII.GetString(request.ToArray()), StringComparison.Ordinal);
        byte[] header = Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n");
        await NetStackTransfer.Writer(socket)(header, ct);
        await NetStackTransfer.Writer(socket)(body, ct);
        socket.Shutdown(SocketShutdown.Both);
    }
}
