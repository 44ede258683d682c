using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using P2PNet.Proxy.Inbound;
using P2PNet.Testing;
using P2PNet.Vpn.NetStack;

using static P2PNet.Proxy.Tests.Inbound.InboundTestKit;

namespace P2PNet.Proxy.Tests.Inbound;

/// <summary>A plain kernel socket on the forwarder's public port, the forwarder on the proxy member's user-space stack,
/// a service on the other member's stack at its VPN address.</summary>
public class InboundForwarderTests
{
    private const int EchoPort = 7;
    private const int ClosingPort = 8;

    [Fact]
    public async Task Echo_8MiB_ThroughTheForwarder_ArrivesIntact_AndIsCounted()
    {
        using var cts = new CancellationTokenSource(InboundVpnLab.Timeout);
        await using var lab = await InboundVpnLab.StartAsync(cts.Token);
        await using var service = ServiceRunner.Start(lab.Service, EchoPort, EchoAsync);
        await using var forwarder = await StartForwarderAsync(lab, EchoPort, null, cts.Token);

        using var client = await ConnectAsync(forwarder, cts.Token);
        const int length = 8 * 1024 * 1024;
        var send = Task.Run(async () =>
        {
            byte[] hash = await SendSeededAsync(client, length, 18, cts.Token);
            client.Shutdown(SocketShutdown.Send);
            return hash;
        }, cts.Token);
        var (received, receivedLength) = await ReceiveToEndAsync(client, cts.Token);

        Assert.Equal(length, receivedLength);
        Assert.Equal(await send, received);
        await Conditions.WaitUntilAsync(() => forwarder.GetStatistics().ActiveConnections == 0, InboundVpnLab.Timeout,
            "the forwarded connection did not end", cts.Token);
        var statistics = forwarder.GetStatistics();
        Assert.Equal(1, statistics.AcceptedConnections);
        Assert.Equal(length, statistics.BytesToTarget);
        Assert.Equal(length, statistics.BytesFromTarget);
        Assert.Empty(statistics.Connections);
    }

    [Fact]
    public async Task ClientHalfCloses_BeforeReading_AndStillReceivesTheRest()
    {
        using var cts = new CancellationTokenSource(InboundVpnLab.Timeout);
        await using var lab = await InboundVpnLab.StartAsync(cts.Token);
        await using var service = ServiceRunner.Start(lab.Service, EchoPort, EchoAsync);
        await using var forwarder = await StartForwarderAsync(lab, EchoPort, null, cts.Token);

        using var client = await ConnectAsync(forwarder, cts.Token);
        // Less than the socket buffers hold, so it is all sent before the client reads anything.
        const int length = 256 * 1024;
        byte[] sent = await SendSeededAsync(client, length, 7, cts.Token);
        client.Shutdown(SocketShutdown.Send);
        var (received, receivedLength) = await ReceiveToEndAsync(client, cts.Token);

        Assert.Equal(length, receivedLength);
        Assert.Equal(sent, received);
    }

    [Fact]
    public async Task ServiceClosesFirst_ClientSeesEof_AndCanStillSend()
    {
        using var cts = new CancellationTokenSource(InboundVpnLab.Timeout);
        await using var lab = await InboundVpnLab.StartAsync(cts.Token);
        var afterEof = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var service = ServiceRunner.Start(lab.Service, ClosingPort, async (connection, ct) =>
        {
            await connection.WriteAsync("bye"u8.ToArray(), ct);
            connection.CompleteWrites();
            afterEof.TrySetResult(Encoding.ASCII.GetString(await ReadToEndAsync(connection, ct)));
        });
        await using var forwarder = await StartForwarderAsync(lab, ClosingPort, null, cts.Token);

        using var client = await ConnectAsync(forwarder, cts.Token);
        var buffer = new byte[64];
        int total = 0;
        int n;
        while ((n = await client.ReceiveAsync(buffer.AsMemory(total), SocketFlags.None, cts.Token)) > 0)
        {
            total += n;
        }
        Assert.Equal("bye", Encoding.ASCII.GetString(buffer, 0, total)); // then EOF: the service's FIN came through

        await client.SendAsync("after your FIN"u8.ToArray(), SocketFlags.None, cts.Token);
        client.Shutdown(SocketShutdown.Send);
        Assert.Equal("after your FIN", await afterEof.Task.WaitAsync(cts.Token));
    }

    [Fact]
    public async Task AResetOfEitherSide_ResetsTheOther()
    {
        using var cts = new CancellationTokenSource(InboundVpnLab.Timeout);
        await using var lab = await InboundVpnLab.StartAsync(cts.Token);
        var serviceSide = new TaskCompletionSource<TcpConnectionException>(TaskCreationOptions.RunContinuationsAsynchronously);
        var helloArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var service = ServiceRunner.Start(lab.Service, EchoPort, async (connection, ct) =>
        {
            var buffer = new byte[16];
            int n = await connection.ReadAsync(buffer, ct);
            if (Encoding.ASCII.GetString(buffer, 0, n) == "abort")
            {
                connection.Abort();
                return;
            }
            helloArrived.TrySetResult();
            serviceSide.TrySetResult(await Assert.ThrowsAsync<TcpConnectionException>(async () => await connection.ReadAsync(buffer, ct)));
        });
        await using var forwarder = await StartForwarderAsync(lab, EchoPort, null, cts.Token);

        // The client resets: the service's connection is reset.
        using (var client = await ConnectAsync(forwarder, cts.Token))
        {
            await client.SendAsync("hello"u8.ToArray(), SocketFlags.None, cts.Token);
            await helloArrived.Task.WaitAsync(cts.Token); // the connection is through to the service
            client.LingerState = new LingerOption(true, 0);
        }
        Assert.Equal(TcpError.ConnectionReset, (await serviceSide.Task.WaitAsync(cts.Token)).Error);

        // The service resets: the client's socket is reset.
        using var second = await ConnectAsync(forwarder, cts.Token);
        await second.SendAsync("abort"u8.ToArray(), SocketFlags.None, cts.Token);
        var reset = await Assert.ThrowsAsync<SocketException>(async () => await second.ReceiveAsync(new byte[16], SocketFlags.None, cts.Token));
        Assert.Equal(SocketError.ConnectionReset, reset.SocketErrorCode);
    }

    [Fact]
    public async Task ATargetThatRefuses_ResetsTheClient_AndIsCountedAsFailed()
    {
        using var cts = new CancellationTokenSource(InboundVpnLab.Timeout);
        await using var lab = await InboundVpnLab.StartAsync(cts.Token);
        await using var forwarder = await StartForwarderAsync(lab, ClosingPort, null, cts.Token); // nothing listens there

        await AssertRefusedAsync(forwarder.LocalEndPoint!, cts.Token);
        // The failure is counted just before the connection leaves the active ones: wait for both.
        await Conditions.WaitUntilAsync(() => forwarder.GetStatistics() is { FailedConnections: 1, ActiveConnections: 0 }, InboundVpnLab.Timeout,
            "the refused connect counted as failed and no longer active", cts.Token);
    }

    [Fact]
    public async Task OverTheConnectionLimit_ANewConnectionIsRefused_AndCounted()
    {
        using var cts = new CancellationTokenSource(InboundVpnLab.Timeout);
        await using var lab = await InboundVpnLab.StartAsync(cts.Token);
        await using var service = ServiceRunner.Start(lab.Service, EchoPort, EchoAsync);
        await using var forwarder = await StartForwarderAsync(lab, EchoPort, new InboundForwarderOptions { MaxConnections = 2 }, cts.Token);

        using var first = await ConnectAsync(forwarder, cts.Token);
        using var second = await ConnectAsync(forwarder, cts.Token);
        await AssertEchoesAsync(first, cts.Token);
        await AssertEchoesAsync(second, cts.Token);

        await AssertRefusedAsync(forwarder.LocalEndPoint!, cts.Token);
        var statistics = forwarder.GetStatistics();
        Assert.Equal(1, statistics.RefusedConnections);
        Assert.Equal(2, statistics.AcceptedConnections);
        Assert.Equal(2, statistics.ActiveConnections);
        Assert.Equal(2, statistics.Connections.Count);
        Assert.All(statistics.Connections, c => Assert.Equal(lab.Proxy.Address, c.VpnEndPoint!.Address));

        // The first two still work, and a slot freed is taken again.
        await AssertEchoesAsync(second, cts.Token);
        first.Shutdown(SocketShutdown.Send);
        await ReceiveToEndAsync(first, cts.Token);
        await Conditions.WaitUntilAsync(() => forwarder.GetStatistics().ActiveConnections == 1, InboundVpnLab.Timeout,
            "the first connection did not end", cts.Token);
        using var fourth = await ConnectAsync(forwarder, cts.Token);
        await AssertEchoesAsync(fourth, cts.Token);
        Assert.Equal(1, forwarder.GetStatistics().RefusedConnections);
    }

    [Fact]
    public async Task Dispose_ClosesTheListener_AndResetsForwardedConnections()
    {
        using var cts = new CancellationTokenSource(InboundVpnLab.Timeout);
        await using var lab = await InboundVpnLab.StartAsync(cts.Token);
        var serviceSide = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var service = ServiceRunner.Start(lab.Service, EchoPort, async (connection, ct) =>
        {
            try
            {
                await EchoAsync(connection, ct);
                serviceSide.TrySetResult(null);
            }
            catch (TcpConnectionException e)
            {
                serviceSide.TrySetResult(e);
            }
        });
        var forwarder = await StartForwarderAsync(lab, EchoPort, null, cts.Token);
        var endpoint = forwarder.LocalEndPoint!;
        using var client = await ConnectAsync(forwarder, cts.Token);
        await AssertEchoesAsync(client, cts.Token);

        await forwarder.DisposeAsync();

        Assert.True(await EndsWithoutDataAsync(client, cts.Token));
        var reset = Assert.IsType<TcpConnectionException>(await serviceSide.Task.WaitAsync(cts.Token));
        Assert.Equal(TcpError.ConnectionReset, reset.Error);
        using var late = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var refused = await Assert.ThrowsAsync<SocketException>(async () => await late.ConnectAsync(endpoint, cts.Token));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
    }

    private static async Task<InboundForwarder> StartForwarderAsync(InboundVpnLab lab, int port, InboundForwarderOptions? options,
        CancellationToken ct)
    {
        var forwarder = new InboundForwarder(lab.Proxy, new IPEndPoint(IPAddress.Loopback, 0), new IPEndPoint(lab.Service.Address, port), options);
        await forwarder.StartAsync(ct);
        return forwarder;
    }

    private static async Task<Socket> ConnectAsync(InboundForwarder forwarder, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(forwarder.LocalEndPoint!, ct);
        return socket;
    }
}
