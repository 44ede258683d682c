using System.Net;
using P2PNet.Vpn.NetStack;

namespace P2PNet.Vpn.Tests.NetStack;

/// <summary>A user-space TCP/IP stack on each member of an in-process VPN, through
/// <see cref="UserSpacePacketDevice.ApplicationEnd"/>: no TUN device, no root.</summary>
public class NetStackOverVpnTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task TcpEcho_OverTheVpn_Returns16MiBIntact()
    {
        using var cts = new CancellationTokenSource(Timeout);
        await using var pair = await StackPair.StartAsync(cts.Token);
        using var listener = pair.Server.ListenTcp(7000);
        var serve = EchoOneAsync(listener, cts.Token);

        await using var client = await pair.Client.ConnectTcpAsync(pair.Server.Address, 7000, cts.Token);
        const long length = 16L * 1024 * 1024;
        var send = Task.Run(async () =>
        {
            byte[] hash = await NetStackTransfer.SendAsync(NetStackTransfer.Writer(client), length, 18, cts.Token);
            client.CompleteWrites();
            return hash;
        }, cts.Token);
        var (received, receivedLength) = await NetStackTransfer.ReceiveAsync(NetStackTransfer.Reader(client), cts.Token);

        Assert.Equal(length, receivedLength);
        Assert.Equal(await send, received);
        Assert.Equal(length, await serve);
        // Sized so the device's receive queue does not overflow (see StackPair); TCP would recover what it dropped.
    }

    [Fact]
    public async Task UdpDatagram_OverTheVpn_IsEchoed()
    {
        using var cts = new CancellationTokenSource(Timeout);
        await using var pair = await StackPair.StartAsync(cts.Token);
        using var echo = pair.Server.BindUdp(7001);
        var serve = Task.Run(async () =>
        {
            var buffer = new byte[2048];
            var datagram = await echo.ReceiveFromAsync(buffer, cts.Token);
            await echo.SendToAsync(buffer.AsMemory(0, datagram.Length), datagram.RemoteEndPoint, cts.Token);
        }, cts.Token);

        using var socket = pair.Client.BindUdp();
        byte[] payload = "through the VPN and back"u8.ToArray();
        await socket.SendToAsync(payload, new IPEndPoint(pair.Server.Address, 7001), cts.Token);
        var reply = new byte[2048];
        var received = await socket.ReceiveFromAsync(reply, cts.Token);

        await serve.WaitAsync(cts.Token);
        Assert.Equal(new IPEndPoint(pair.Server.Address, 7001), received.RemoteEndPoint);
        Assert.Equal(payload, reply.AsSpan(0, received.Length).ToArray());
    }

    /// <summary>Accepts one connection, writes back what it reads, half-closes after the client's FIN.</summary>
    private static async Task<long> EchoOneAsync(TcpPortListener listener, CancellationToken ct)
    {
        await using var connection = await listener.AcceptAsync(ct);
        var buffer = new byte[64 * 1024];
        long total = 0;
        int n;
        while ((n = await connection.ReadAsync(buffer, ct)) > 0)
        {
            await connection.WriteAsync(buffer.AsMemory(0, n), ct);
            total += n;
        }
        connection.CompleteWrites();
        return total;
    }

    /// <summary>A two-host VPN (coordinator and one member) with an <see cref="IPStack"/> on each end's device at its
    /// VPN address; the coordinator's is the server.</summary>
    private sealed class StackPair : IAsyncDisposable
    {
        private readonly VpnCluster _cluster;

        private StackPair(VpnCluster cluster, IPStack server, IPStack client)
        {
            _cluster = cluster;
            Server = server;
            Client = client;
        }

        public IPStack Server { get; }

        public IPStack Client { get; }

        public static async Task<StackPair> StartAsync(CancellationToken ct)
        {
            var cluster = await VpnCluster.CreateAsync(2);
            IPStack? server = null;
            try
            {
                await cluster.StartAllAsync();
                await cluster.WaitForDataStreamAsync(0, 1);
                server = await StartStackAsync(cluster.Devices[0], ct);
                var client = await StartStackAsync(cluster.Devices[1], ct);
                return new StackPair(cluster, server, client);
            }
            catch
            {
                if (server is not null)
                {
                    await server.DisposeAsync();
                }
                await cluster.DisposeAsync();
                throw;
            }
        }

        private static async Task<IPStack> StartStackAsync(UserSpacePacketDevice device, CancellationToken ct)
        {
            IPAddress address = await device.Configured.WaitAsync(ct);
            // Windows of 256 KiB (about 190 segments each way) stay well inside the device's 1,024-packet receive
            // queue: with the 1 MiB default, a loaded machine overflowed it with whole bursts and one CI run spent
            // over 90 s recovering (the overflow itself is left to the next plan: docs/netstack.md).
            var stack = new IPStack(device.ApplicationEnd, address, new NetStackOptions
            {
                Mtu = device.Mtu,
                ReceiveBufferSize = 256 * 1024,
                SendBufferSize = 256 * 1024,
            });
            await stack.StartAsync(ct);
            return stack;
        }

        public async ValueTask DisposeAsync()
        {
            await Client.DisposeAsync();
            await Server.DisposeAsync();
            await _cluster.DisposeAsync();
        }
    }
}
