using System.Diagnostics.Metrics;
using System.Net.Sockets;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Proxy.Tunnels;

namespace P2PNet.Proxy.Tests.Tunnels;

/// <summary>Who may register what: tokens, names, the port range, revocation, re-registration, status and metrics.</summary>
public sealed class TunnelRegistrationTests
{
    private static readonly TimeSpan Timeout = TunnelLab.Timeout;

    private static TunnelServiceSpec Tcp(string name, TcpEchoServer echo) => new(name, TunnelServiceKind.Tcp, echo.EndPoint);

    [Fact]
    public async Task Register_WithUnknownToken_IsRefusedAsBadToken()
    {
        await using var lab = await TunnelLab.StartAsync();
        await using var echo = new TcpEchoServer();
        lab.Store.CreateToken("dev1");
        var e = await Assert.ThrowsAsync<TunnelRegistrationException>(() => lab.AddDeviceAsync("not-a-token", [Tcp("ssh", echo)]));
        Assert.Equal(TunnelStatusCode.BadToken, e.Status);
        Assert.Empty(lab.Server.Devices);
    }

    [Fact]
    public async Task Register_WhenThePortRangeIsExhausted_IsRefusedAndHoldsNoPort()
    {
        await using var lab = await TunnelLab.StartAsync(ports: 1);
        await using var echo = new TcpEchoServer();
        var e = await Assert.ThrowsAsync<TunnelRegistrationException>(
            () => lab.AddDeviceAsync(lab.Store.CreateToken("dev1"), [Tcp("a", echo), Tcp("b", echo)]));
        Assert.Equal(TunnelStatusCode.RangeExhausted, e.Status);
        // The port taken for "a" was given back: a device with one service gets it.
        var (device, _) = await lab.AddDeviceAsync(lab.Store.CreateToken("dev2"), [Tcp("a", echo)]);
        Assert.Equal(lab.ServerOptions.FirstPort, device.Assignments[0].Port);
    }

    [Fact]
    public async Task Register_DeviceNameHeldByAnotherPeer_IsRefusedAsNameTaken()
    {
        await using var lab = await TunnelLab.StartAsync();
        await using var echo = new TcpEchoServer();
        string token = lab.Store.CreateToken("dev1");
        await lab.AddDeviceAsync(token, [Tcp("ssh", echo)]);
        var e = await Assert.ThrowsAsync<TunnelRegistrationException>(() => lab.AddDeviceAsync(token, [Tcp("ssh", echo)]));
        Assert.Equal(TunnelStatusCode.NameTaken, e.Status);
    }

    [Fact]
    public async Task Register_WithInvalidOrRepeatedServiceNames_IsRefusedByTheServerToo()
    {
        await using var lab = await TunnelLab.StartAsync();
        string token = lab.Store.CreateToken("dev1");
        await using var host = new P2PHost();
        using var cts = new CancellationTokenSource(Timeout);
        // A client that skips the device's own checks: the server checks again.
        var stream = await (await host.DialAsync(lab.ServerAddress, cts.Token)).OpenStreamAsync("/p2pnet/tunnel/1.0.0", cts.Token);
        var register = new Proxy.Tunnels.Protos.Register { Token = token };
        register.Services.Add(new Proxy.Tunnels.Protos.ServiceRequest { Name = "web", Kind = Proxy.Tunnels.Protos.ServiceKind.Tcp });
        register.Services.Add(new Proxy.Tunnels.Protos.ServiceRequest { Name = "web", Kind = Proxy.Tunnels.Protos.ServiceKind.Tcp });
        await Proxy.Tunnels.Internal.TunnelWire.WriteAsync(stream.Output, new Proxy.Tunnels.Protos.DeviceMessage { Register = register }, cts.Token);
        var answer = await Proxy.Tunnels.Internal.TunnelWire.ReadAsync(stream.Input, Proxy.Tunnels.Protos.ServerMessage.Parser, cts.Token);
        Assert.Equal(Proxy.Tunnels.Protos.Status.BadRequest, answer!.Registered.Status);
        Assert.Empty(lab.Server.Devices);
    }

    [Theory]
    [InlineData(new byte[] { 0xff, 0xff, 0xff, 0xff, 0x0f })] // a 4 GiB length prefix
    [InlineData(new byte[] { 0x05, 0x0a, 0x03, 0xff, 0xff, 0xff })] // a field longer than its message
    [InlineData(new byte[] { 0x02, 0x12, 0x00 })] // a Ping first instead of a Register
    public async Task ControlStream_HostileInput_EndsThatStreamOnly_AndTheServerKeepsServing(byte[] hostile)
    {
        await using var lab = await TunnelLab.StartAsync();
        await using var echo = new TcpEchoServer();
        await using var attacker = new P2PHost();
        using var cts = new CancellationTokenSource(Timeout);
        var connection = await attacker.DialAsync(lab.ServerAddress, cts.Token);
        var stream = await connection.OpenStreamAsync("/p2pnet/tunnel/1.0.0", cts.Token);
        await stream.WriteAsync(hostile, completeWrites: true, cts.Token);
        // The server answers at most a refusal, then ends (or resets) the stream.
        var buffer = new byte[1024];
        try
        {
            while (await stream.ReadAsync(buffer, cts.Token) > 0)
            {
            }
        }
        catch (Exception e) when (e is Muxing.StreamResetException or IOException)
        {
        }
        Assert.Empty(lab.Server.Devices);
        var (device, _) = await lab.AddDeviceAsync(lab.Store.CreateToken("dev1"), [Tcp("ssh", echo)]);
        Assert.Single(device.Assignments);
    }

    [Fact]
    public async Task RevokedToken_CutsTheDeviceOffClosesItsPortAndCannotRegisterAgain()
    {
        await using var lab = await TunnelLab.StartAsync();
        await using var echo = new TcpEchoServer();
        string token = lab.Store.CreateToken("dev1");
        var (device, _) = await lab.AddDeviceAsync(token, [Tcp("ssh", echo)]);
        int port = device.Assignments[0].Port;

        // Revoked through another connection to the same file, as `p2pnet tunnel token revoke` does.
        using (var other = TunnelTokenStore.Open(lab.DatabasePath))
        {
            Assert.True(other.Revoke("dev1"));
        }
        var e = await Assert.ThrowsAsync<TunnelRegistrationException>(() => device.Completion.WaitAsync(Timeout));
        Assert.Equal(TunnelStatusCode.Revoked, e.Status);
        await SocketTestExtensions.WaitUntilAsync(() => lab.Server.Devices.Count == 0, Timeout, "the device to be dropped");
        using var cts = new CancellationTokenSource(Timeout);
        await Assert.ThrowsAsync<SocketException>(async () => await TunnelLab.ConnectAsync(port, cts.Token));
        var again = await Assert.ThrowsAsync<TunnelRegistrationException>(() => lab.AddDeviceAsync(token, [Tcp("ssh", echo)]));
        Assert.Equal(TunnelStatusCode.BadToken, again.Status);
    }

    [Fact]
    public async Task Device_AfterTheServerRestarts_ReRegistersAndKeepsItsPort()
    {
        await using var lab = await TunnelLab.StartAsync();
        await using var echo = new TcpEchoServer();
        using var serverKey = PrivateKey.GenerateEd25519();
        await lab.StopServerAsync();
        await lab.StartServerAsync(identity: serverKey);
        Multiaddr listen = lab.ServerHost.ListenAddresses[0];
        var (device, _) = await lab.AddDeviceAsync(lab.Store.CreateToken("dev1"), [Tcp("ssh", echo), Tcp("db", echo)],
            o => { o.InitialReconnectDelay = TimeSpan.FromMilliseconds(100); o.MaxReconnectDelay = TimeSpan.FromMilliseconds(500); });
        var before = device.Assignments.ToDictionary(a => a.Service, a => a.Port);

        await lab.StopServerAsync();
        await lab.StartServerAsync(identity: serverKey, listen: Multiaddr.Parse(listen.ToString().Split("/p2p/")[0]));
        await SocketTestExtensions.WaitUntilAsync(() => device.Registrations >= 2, Timeout, "the device to re-register");

        Assert.Equal(before, device.Assignments.ToDictionary(a => a.Service, a => a.Port));
        using var cts = new CancellationTokenSource(Timeout);
        using var socket = await TunnelLab.ConnectAsync(before["ssh"], cts.Token);
        await socket.SendAsync("again"u8.ToArray(), SocketFlags.None, cts.Token);
        Assert.Equal("again"u8.ToArray(), await socket.ReadExactlyAsync(5, cts.Token));
    }

    [Fact]
    public async Task Status_AndMeters_CountConnectionsAndBytesPerTunnel()
    {
        var measured = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "P2PNet.Proxy.Tunnels")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "device" && (string?)tag.Value == "meter-dev")
                {
                    lock (measured)
                    {
                        measured[instrument.Name] = measured.GetValueOrDefault(instrument.Name) + value;
                    }
                }
            }
        });
        listener.Start();

        await using var lab = await TunnelLab.StartAsync();
        await using var echo = new TcpEchoServer();
        var (device, _) = await lab.AddDeviceAsync(lab.Store.CreateToken("meter-dev"), [Tcp("ssh", echo)]);
        using var cts = new CancellationTokenSource(Timeout);
        for (int i = 0; i < 3; i++)
        {
            using var socket = await TunnelLab.ConnectAsync(device.Assignments[0].Port, cts.Token);
            await socket.SendAsync(new byte[1000], SocketFlags.None, cts.Token);
            await socket.ReadExactlyAsync(1000, cts.Token);
        }
        await SocketTestExtensions.WaitUntilAsync(() => lab.Server.GetStatus().Single().BytesOut == 3000, Timeout, "the bytes to be counted");
        var status = lab.Server.GetStatus().Single();
        Assert.Equal(("meter-dev", "ssh", 3L, 3000L, 3000L, true), (status.Device, status.Service, status.TotalConnections, status.BytesIn, status.BytesOut, status.Online));

        // The server writes the same figures into the database, where `p2pnet tunnel status` reads them.
        await SocketTestExtensions.WaitUntilAsync(() => lab.Store.ReadStatus().Any(r => r.BytesOut == 3000 && r.ActiveConnections == 0), Timeout, "the status table");
        lock (measured)
        {
            Assert.Equal(3, measured["p2pnet.tunnel.connections"]);
            Assert.Equal(6000, measured["p2pnet.tunnel.bytes"]);
        }
    }
}
