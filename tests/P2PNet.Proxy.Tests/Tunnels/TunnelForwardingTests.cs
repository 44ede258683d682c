using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using P2PNet.Proxy.Tests.UdpBridge;
using P2PNet.Proxy.Tunnels;
using P2PNet.Testing;

namespace P2PNet.Proxy.Tests.Tunnels;

/// <summary>Public TCP and UDP ports forwarded through the device's connection: bytes, half-close, limits, idle timeout.</summary>
public sealed class TunnelForwardingTests
{
    private static readonly TimeSpan Timeout = TunnelLab.Timeout;

    [Fact]
    public async Task TcpPort_CarriesBytesBothWaysToTheDevicesService()
    {
        await using var lab = await TunnelLab.StartAsync();
        await using var echo = new TcpEchoServer();
        var (device, _) = await lab.AddDeviceAsync(lab.Store.CreateToken("dev1"), [new TunnelServiceSpec("echo", TunnelServiceKind.Tcp, echo.EndPoint)]);
        var assignment = Assert.Single(device.Assignments);
        Assert.Equal(TunnelServiceKind.Tcp, assignment.Kind);
        Assert.InRange(assignment.Port, lab.ServerOptions.FirstPort, lab.ServerOptions.LastPort);
        Assert.Equal("dev1", device.DeviceName);

        using var cts = new CancellationTokenSource(Timeout);
        using var socket = await TunnelLab.ConnectAsync(assignment.Port, cts.Token);
        var payload = new byte[300_000];
        Random.Shared.NextBytes(payload);
        var reading = socket.ReadExactlyAsync(payload.Length, cts.Token);
        await socket.SendAsync(payload, SocketFlags.None, cts.Token);
        Assert.Equal(payload, await reading);
    }

    [Fact]
    public async Task TcpPort_HalfClose_ClientFinReachesServiceAndTheServicesLastBytesStillArrive()
    {
        await using var lab = await TunnelLab.StartAsync();
        byte[] trailer = Encoding.ASCII.GetBytes("|bye after your FIN");
        await using var echo = new TcpEchoServer(trailer);
        var (device, _) = await lab.AddDeviceAsync(lab.Store.CreateToken("dev1"), [new TunnelServiceSpec("echo", TunnelServiceKind.Tcp, echo.EndPoint)]);

        using var cts = new CancellationTokenSource(Timeout);
        using var socket = await TunnelLab.ConnectAsync(device.Assignments[0].Port, cts.Token);
        await socket.SendAsync(Encoding.ASCII.GetBytes("request"), SocketFlags.None, cts.Token);
        socket.Shutdown(SocketShutdown.Send);
        // The service sees our FIN only if the tunnel carried it; it answers the trailer only then, and closes.
        byte[] all = await socket.ReadToEndAsync(cts.Token);
        Assert.Equal("request|bye after your FIN", Encoding.ASCII.GetString(all));
    }

    [Fact]
    public async Task UdpPort_CarriesDatagramsBothWaysPerRemoteEndpoint()
    {
        await using var lab = await TunnelLab.StartAsync();
        await using var echo = new UdpEchoServer(IPAddress.Loopback);
        var (device, _) = await lab.AddDeviceAsync(lab.Store.CreateToken("dev1"), [new TunnelServiceSpec("dns", TunnelServiceKind.Udp, echo.EndPoint)]);
        var assignment = Assert.Single(device.Assignments);
        Assert.Equal(TunnelServiceKind.Udp, assignment.Kind);

        using var cts = new CancellationTokenSource(Timeout);
        foreach (int client in new[] { 1, 2 })
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.Connect(new IPEndPoint(IPAddress.Loopback, assignment.Port));
            var buffer = new byte[2048];
            for (int i = 0; i < 5; i++)
            {
                byte[] datagram = Encoding.ASCII.GetBytes($"client {client} datagram {i}");
                await socket.SendAsync(datagram, SocketFlags.None, cts.Token);
                int read = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
                Assert.Equal(datagram, buffer[..read]);
            }
        }
        Assert.Equal(2, lab.Server.GetStatus().Single().TotalConnections);
    }

    [Fact]
    public async Task ConnectionLimit_RefusesPublicConnectionsBeyondTheLimitPerTunnel()
    {
        await using var lab = await TunnelLab.StartAsync(o => o.MaxConnectionsPerTunnel = 2);
        await using var echo = new TcpEchoServer();
        var (device, _) = await lab.AddDeviceAsync(lab.Store.CreateToken("dev1"), [new TunnelServiceSpec("echo", TunnelServiceKind.Tcp, echo.EndPoint)]);
        int port = device.Assignments[0].Port;
        using var cts = new CancellationTokenSource(Timeout);
        using var first = await TunnelLab.ConnectAsync(port, cts.Token);
        using var second = await TunnelLab.ConnectAsync(port, cts.Token);
        foreach (var socket in new[] { first, second })
        {
            await socket.SendAsync("x"u8.ToArray(), SocketFlags.None, cts.Token);
            Assert.Equal("x"u8.ToArray(), await socket.ReadExactlyAsync(1, cts.Token));
        }

        // Refused: closed (reset) at once, never forwarded. The reset can come before the connect's own completion.
        try
        {
            using var third = await TunnelLab.ConnectAsync(port, cts.Token);
            Assert.Empty(await third.ReadToEndAsync(cts.Token));
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
        }
        Assert.Equal(2, echo.Accepted);

        // Closing one frees a place.
        first.Dispose();
        await SocketTestExtensions.WaitUntilAsync(() => lab.Server.GetStatus().Single().ActiveConnections == 1, Timeout, "the closed connection to be counted out");
        using var fourth = await TunnelLab.ConnectAsync(port, cts.Token);
        await fourth.SendAsync("y"u8.ToArray(), SocketFlags.None, cts.Token);
        Assert.Equal("y"u8.ToArray(), await fourth.ReadExactlyAsync(1, cts.Token));
    }

    [Fact]
    public async Task BandwidthLimit_HoldsTheTunnelToItsRate()
    {
        const int rate = 64 * 1024;
        await using var lab = await TunnelLab.StartAsync(o => o.MaxBytesPerSecondPerTunnel = rate);
        await using var echo = new TcpEchoServer();
        var (device, _) = await lab.AddDeviceAsync(lab.Store.CreateToken("dev1"), [new TunnelServiceSpec("echo", TunnelServiceKind.Tcp, echo.EndPoint)]);
        using var cts = new CancellationTokenSource(Timeout);
        using var socket = await TunnelLab.ConnectAsync(device.Assignments[0].Port, cts.Token);
        var payload = new byte[4 * rate];
        var watch = Stopwatch.StartNew();
        var reading = socket.ReadExactlyAsync(payload.Length, cts.Token);
        await socket.SendAsync(payload, SocketFlags.None, cts.Token);
        await reading;
        // One second of burst, then the rate: 4 × rate bytes cannot pass in under 3 s (a lower bound; load only adds).
        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(2.8), $"took only {watch.Elapsed.TotalSeconds:0.00} s");
    }

    [Fact]
    public async Task IdleTimeout_ClosesPublicConnectionsThatCarryNothing()
    {
        var time = new ManualTimeProvider();
        await using var lab = await TunnelLab.StartAsync(o => o.IdleTimeout = TimeSpan.FromMinutes(10), time);
        await using var echo = new TcpEchoServer();
        var (device, _) = await lab.AddDeviceAsync(lab.Store.CreateToken("dev1"), [new TunnelServiceSpec("echo", TunnelServiceKind.Tcp, echo.EndPoint)]);
        using var cts = new CancellationTokenSource(Timeout);
        using var socket = await TunnelLab.ConnectAsync(device.Assignments[0].Port, cts.Token);
        await socket.SendAsync("ping"u8.ToArray(), SocketFlags.None, cts.Token);
        await socket.ReadExactlyAsync(4, cts.Token);

        time.Advance(TimeSpan.FromMinutes(5));
        await SocketTestExtensions.WaitUntilAsync(() => lab.Server.GetStatus().Single().ActiveConnections == 1, Timeout, "the connection to be open");
        await socket.SendAsync("ping"u8.ToArray(), SocketFlags.None, cts.Token);
        await socket.ReadExactlyAsync(4, cts.Token); // Still open after half the timeout, and the activity restarts it.

        time.Advance(TimeSpan.FromMinutes(13));
        try
        {
            Assert.Empty(await socket.ReadToEndAsync(cts.Token));
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
        }
        await SocketTestExtensions.WaitUntilAsync(() => lab.Server.GetStatus().Single().ActiveConnections == 0, Timeout, "the idle connection to be closed");
    }
}
