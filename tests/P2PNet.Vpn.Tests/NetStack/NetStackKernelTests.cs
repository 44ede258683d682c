using System.Net;
using System.Net.Sockets;
using System.Text;
using P2PNet.Testing;
using P2PNet.Vpn.NetStack;

namespace P2PNet.Vpn.Tests.NetStack;

/// <summary>The Linux kernel's TCP against the user-space stack over a TUN device in a <c>netstack-</c> namespace.
/// Needs root, as the other kernel tests.</summary>
[Collection(KernelTestGroup.Name)]
public class NetStackKernelTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task KernelConnectsToStack_DataFlowsBothWays_AndEachSideHalfClosesWhileTheOtherStillSends()
    {
        await using var lab = await NetStackLab.CreateAsync();
        using var cts = new CancellationTokenSource(Timeout);
        using var listener = lab.Stack.ListenTcp(5000);
        using var kernel = lab.KernelSocket();
        await kernel.ConnectAsync(new IPEndPoint(NetStackLab.StackAddress, 5000), cts.Token);
        await using var connection = await listener.AcceptAsync(cts.Token);
        Assert.Equal(TcpState.Established, connection.State);

        // The kernel closes its sending side first: the stack reads the data, then end of stream, and still sends.
        await kernel.SendAsync("from kernel"u8.ToArray(), SocketFlags.None, cts.Token);
        kernel.Shutdown(SocketShutdown.Send);
        Assert.Equal("from kernel", Encoding.ASCII.GetString(await ReadToEndAsync(connection, cts.Token)));
        Assert.Equal(TcpState.CloseWait, connection.State);
        await connection.WriteAsync("after your FIN"u8.ToArray(), cts.Token);
        connection.CompleteWrites();
        Assert.Equal("after your FIN", Encoding.ASCII.GetString(await ReadToEndAsync(kernel, cts.Token)));
        await WaitForAsync(() => connection.State == TcpState.Closed, cts.Token);
    }

    [Fact]
    public async Task StackConnectsToKernel_StackHalfClosesFirst_AndTheKernelStillDelivers()
    {
        await using var lab = await NetStackLab.CreateAsync();
        using var cts = new CancellationTokenSource(Timeout);
        using var kernelListener = lab.KernelSocket();
        kernelListener.Bind(new IPEndPoint(NetStackLab.KernelAddress, 6000));
        kernelListener.Listen();
        var accept = kernelListener.AcceptAsync(cts.Token);
        await using var connection = await lab.Stack.ConnectTcpAsync(NetStackLab.KernelAddress, 6000, cts.Token);
        using var kernel = await accept;
        Assert.Equal(new IPEndPoint(NetStackLab.StackAddress, connection.LocalEndPoint.Port), kernel.RemoteEndPoint);

        await connection.WriteAsync("from stack"u8.ToArray(), cts.Token);
        connection.CompleteWrites();
        Assert.Equal("from stack", Encoding.ASCII.GetString(await ReadToEndAsync(kernel, cts.Token)));
        await WaitForAsync(() => connection.State == TcpState.FinWait2, cts.Token);
        await kernel.SendAsync("after your FIN"u8.ToArray(), SocketFlags.None, cts.Token);
        kernel.Shutdown(SocketShutdown.Send);
        Assert.Equal("after your FIN", Encoding.ASCII.GetString(await ReadToEndAsync(connection, cts.Token)));
        Assert.Equal(TcpState.TimeWait, connection.State); // the side that closed first waits out 2 MSL (RFC 9293 §3.6)
    }

    [Fact]
    public async Task ConnectToAPortWithoutListener_IsRefusedWithAReset_BothWays()
    {
        await using var lab = await NetStackLab.CreateAsync();
        using var cts = new CancellationTokenSource(Timeout);
        using var kernel = lab.KernelSocket();
        var refused = await Assert.ThrowsAsync<SocketException>(async () => await kernel.ConnectAsync(new IPEndPoint(NetStackLab.StackAddress, 5999), cts.Token));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        var fromStack = await Assert.ThrowsAsync<TcpConnectionException>(() => lab.Stack.ConnectTcpAsync(NetStackLab.KernelAddress, 5999, cts.Token));
        Assert.Equal(TcpError.ConnectionRefused, fromStack.Error);
        Assert.True(fromStack.IsRemote);
    }

    [Fact]
    public async Task AResetFromTheKernel_FailsStackReads_AndAnAbortFromTheStack_ResetsTheKernelSocket()
    {
        await using var lab = await NetStackLab.CreateAsync();
        using var cts = new CancellationTokenSource(Timeout);
        using var listener = lab.Stack.ListenTcp(5000);

        using (var kernel = lab.KernelSocket())
        {
            await kernel.ConnectAsync(new IPEndPoint(NetStackLab.StackAddress, 5000), cts.Token);
            await using var connection = await listener.AcceptAsync(cts.Token);
            var pending = connection.ReadAsync(new byte[16], cts.Token).AsTask();
            kernel.LingerState = new LingerOption(true, 0); // close(2) with linger 0 sends RST
            kernel.Close();
            var reset = await Assert.ThrowsAsync<TcpConnectionException>(() => pending);
            Assert.Equal(TcpError.ConnectionReset, reset.Error);
            Assert.Equal(TcpState.Closed, connection.State);
        }

        using (var kernel = lab.KernelSocket())
        {
            await kernel.ConnectAsync(new IPEndPoint(NetStackLab.StackAddress, 5000), cts.Token);
            await using var connection = await listener.AcceptAsync(cts.Token);
            connection.Abort();
            var reset = await Assert.ThrowsAsync<SocketException>(async () => await kernel.ReceiveAsync(new byte[16], SocketFlags.None, cts.Token));
            Assert.Equal(SocketError.ConnectionReset, reset.SocketErrorCode);
            var aborted = await Assert.ThrowsAsync<TcpConnectionException>(async () => await connection.ReadAsync(new byte[16], cts.Token));
            Assert.Equal(TcpError.ConnectionAborted, aborted.Error);
        }
    }

    [Fact]
    public async Task WindowScalingSackAndTimestamps_AreNegotiatedWithTheKernel_AsSsShows()
    {
        await using var lab = await NetStackLab.CreateAsync();
        using var cts = new CancellationTokenSource(Timeout);
        using var listener = lab.Stack.ListenTcp(5000);
        using var kernel = lab.KernelSocket();
        await kernel.ConnectAsync(new IPEndPoint(NetStackLab.StackAddress, 5000), cts.Token);
        await using var connection = await listener.AcceptAsync(cts.Token);
        string ss = await lab.RunAsync(cts.Token, "ss", "-tinH", "dst", NetStackLab.StackAddress.ToString());
        // The stack offers a 1 MiB buffer: shift 5; the kernel's own shift is its business. (This kernel's ss prints no
        // "ts"/"sack" flags, not even between two kernel sockets: SACK in use is shown by the impairment tests, where
        // the kernel counts SACK-driven recoveries.)
        Assert.Matches(@"wscale:5,\d+", ss);
        var statistics = connection.GetStatistics();
        Assert.True(statistics.WindowScalingEnabled && statistics.SackEnabled && statistics.TimestampsEnabled);
        Assert.Equal(1500 - 40 - 12, statistics.SendMss);
    }

    [Fact]
    public async Task OneGibibyteEachWay_ArrivesIntact()
    {
        await using var lab = await NetStackLab.CreateAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        using var listener = lab.Stack.ListenTcp(5000);
        using var kernel = lab.KernelSocket();
        await kernel.ConnectAsync(new IPEndPoint(NetStackLab.StackAddress, 5000), cts.Token);
        await using var connection = await listener.AcceptAsync(cts.Token);
        await NetStackTransfer.BothWaysAsync(kernel, connection, 1L << 30, cts.Token);
    }

    [Fact]
    public async Task AThousandConcurrentConnections_EachEchoesItsOwnBytes()
    {
        await using var lab = await NetStackLab.CreateAsync(new NetStackOptions { ListenBacklog = 1024 });
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        using var listener = lab.Stack.ListenTcp(7);
        const int count = 1000;
        var server = Task.Run(async () =>
        {
            var echoes = new List<Task>();
            for (int i = 0; i < count; i++)
            {
                var connection = await listener.AcceptAsync(cts.Token);
                echoes.Add(Task.Run(async () =>
                {
                    await using (connection)
                    {
                        var buffer = new byte[512];
                        int n;
                        while ((n = await connection.ReadAsync(buffer, cts.Token)) > 0)
                        {
                            await connection.WriteAsync(buffer.AsMemory(0, n), cts.Token);
                        }
                        connection.CompleteWrites();
                    }
                }, cts.Token));
            }
            await Task.WhenAll(echoes);
        }, cts.Token);
        var sockets = lab.KernelSockets(count);
        try
        {
            var clients = sockets.Select((socket, i) => Task.Run(async () =>
            {
                await socket.ConnectAsync(new IPEndPoint(NetStackLab.StackAddress, 7), cts.Token);
                byte[] message = Encoding.ASCII.GetBytes($"connection {i:D4} says hello");
                await socket.SendAsync(message, SocketFlags.None, cts.Token);
                socket.Shutdown(SocketShutdown.Send);
                Assert.Equal(message, await ReadToEndAsync(socket, cts.Token));
            }, cts.Token)).ToArray();
            await Task.WhenAll(clients).WaitAsync(cts.Token);
            await server.WaitAsync(cts.Token);
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }
    }

    [Fact]
    public async Task AFullAcceptQueue_DropsFurtherSyns_AndThoseConnectionsCompleteOnceAccepted()
    {
        await using var lab = await NetStackLab.CreateAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        using var listener = lab.Stack.ListenTcp(5000, backlog: 4);
        var sockets = lab.KernelSockets(8);
        try
        {
            var connects = sockets.Select(s => s.ConnectAsync(new IPEndPoint(NetStackLab.StackAddress, 5000), cts.Token).AsTask()).ToArray();
            // The kernel's connect() returns when the SYN-ACK arrives; the socket task completes a moment later.
            await WaitForAsync(() => listener.PendingCount == 4 && lab.Stack.PacketsDropped >= 4
                && connects.Count(c => c.IsCompletedSuccessfully) >= 4, cts.Token);
            Assert.Equal(4, connects.Count(c => c.IsCompletedSuccessfully));
            Assert.Equal(4, listener.PendingCount); // the queue never grows past the backlog
            // Accepting makes room; the kernel's SYN retries (1 s, 3 s, 7 s …) get the others in.
            var accepted = new List<TcpConnection>();
            for (int i = 0; i < 8; i++)
            {
                accepted.Add(await listener.AcceptAsync(cts.Token));
            }
            await Task.WhenAll(connects).WaitAsync(cts.Token);
            foreach (var connection in accepted)
            {
                await connection.DisposeAsync();
            }
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }
    }

    [Fact]
    public async Task UdpAndIcmp_EchoRequestsAreAnswered_DatagramsFlowBothWays_AndAClosedPortIsReportedUnreachable()
    {
        await using var lab = await NetStackLab.CreateAsync();
        using var cts = new CancellationTokenSource(Timeout);
        await lab.RunAsync(cts.Token, "ping", "-c", "2", "-i", "0.2", "-W", "5", NetStackLab.StackAddress.ToString());

        using var udp = lab.Stack.BindUdp(5353);
        using var kernel = lab.KernelSocket(SocketType.Dgram, ProtocolType.Udp);
        kernel.Bind(new IPEndPoint(NetStackLab.KernelAddress, 0));
        await kernel.SendToAsync("ping"u8.ToArray(), SocketFlags.None, new IPEndPoint(NetStackLab.StackAddress, 5353), cts.Token);
        var buffer = new byte[64];
        var datagram = await udp.ReceiveFromAsync(buffer, cts.Token);
        Assert.Equal("ping", Encoding.ASCII.GetString(buffer, 0, datagram.Length));
        Assert.Equal(kernel.LocalEndPoint, datagram.RemoteEndPoint);
        await udp.SendToAsync("pong"u8.ToArray(), datagram.RemoteEndPoint, cts.Token);
        int n = await kernel.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
        Assert.Equal("pong", Encoding.ASCII.GetString(buffer, 0, n));

        // A connected UDP socket learns of ICMP port unreachable as ECONNREFUSED on its next call.
        await kernel.ConnectAsync(new IPEndPoint(NetStackLab.StackAddress, 5354), cts.Token);
        await kernel.SendAsync("anyone?"u8.ToArray(), SocketFlags.None, cts.Token);
        var refused = await Assert.ThrowsAsync<SocketException>(async () => await kernel.ReceiveAsync(buffer, SocketFlags.None, cts.Token));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
    }

    internal static async Task<byte[]> ReadToEndAsync(TcpConnection connection, CancellationToken ct)
    {
        var all = new MemoryStream();
        var buffer = new byte[4096];
        int n;
        while ((n = await connection.ReadAsync(buffer, ct)) > 0)
        {
            all.Write(buffer, 0, n);
        }
        return all.ToArray();
    }

    internal static async Task<byte[]> ReadToEndAsync(Socket socket, CancellationToken ct)
    {
        var all = new MemoryStream();
        var buffer = new byte[4096];
        int n;
        while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, ct)) > 0)
        {
            all.Write(buffer, 0, n);
        }
        return all.ToArray();
    }

    internal static Task WaitForAsync(Func<bool> condition, CancellationToken ct) =>
        Conditions.WaitUntilAsync(condition, TimeSpan.FromSeconds(60), "the stack's state did not change as awaited", ct);
}
