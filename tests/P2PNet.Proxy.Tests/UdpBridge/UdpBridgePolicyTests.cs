using System.Net;
using System.Net.Sockets;

namespace P2PNet.Proxy.Tests.UdpBridge;

/// <summary>The destination (and source) policy, enforced on real traffic.</summary>
public sealed class UdpBridgePolicyTests
{
    [Fact]
    public async Task Default_RefusesLoopbackDestination_AndSendsNothing()
    {
        await using TestBridge bridge = await TestBridge.StartAsync(allowLoopback: false);
        await using var echo = new UdpEchoServer(IPAddress.Loopback);
        await using BridgeClient client = await bridge.ConnectAsync();

        await client.SendAsync(echo.EndPoint, "must not arrive"u8);
        await client.SendAsync(new IPEndPoint(IPAddress.IPv6Loopback, echo.EndPoint.Port), "nor this"u8);
        byte[] mappedLoopback = [6, .. IPAddress.Loopback.MapToIPv6().GetAddressBytes(), (byte)(echo.EndPoint.Port >> 8), (byte)echo.EndPoint.Port, 1];
        await client.SendRawAsync(mappedLoopback);

        await bridge.Metrics.WaitForAsync(3, "p2pnet.bridge.datagrams.dropped", "reason=destination_refused", "direction=to_udp");
        Assert.Equal(0, echo.Received);
        Assert.Equal(0, bridge.Metrics.Total("p2pnet.bridge.datagrams.relayed"));
    }

    [Theory]
    [InlineData("10.1.2.3")]
    [InlineData("172.16.0.1")]
    [InlineData("192.168.1.1")]
    [InlineData("100.64.0.1")]
    [InlineData("169.254.169.254")]
    [InlineData("224.0.0.251")]
    [InlineData("255.255.255.255")]
    [InlineData("0.0.0.0")]
    [InlineData("::")]
    [InlineData("fe80::1")]
    [InlineData("fd00::1")]
    [InlineData("ff02::1")]
    [InlineData("::ffff:169.254.169.254")]
    [InlineData("::ffff:192.168.0.1")]
    [InlineData("64:ff9b::10.0.0.1")]
    public async Task Default_RefusesSpecialPurposeDestination(string destination)
    {
        // Only loopback is allowed here, so a refused datagram is the only outcome that keeps traffic on this machine.
        await using TestBridge bridge = await TestBridge.StartAsync();
        await using BridgeClient client = await bridge.ConnectAsync();

        await client.SendAsync(new IPEndPoint(IPAddress.Parse(destination), 9), "x"u8);

        await bridge.Metrics.WaitForAsync(1, "p2pnet.bridge.datagrams.dropped", "reason=destination_refused");
        Assert.Equal(0, bridge.Metrics.Total("p2pnet.bridge.datagrams.relayed"));
    }

    [Fact]
    public async Task PortZero_IsRefused()
    {
        await using TestBridge bridge = await TestBridge.StartAsync();
        await using BridgeClient client = await bridge.ConnectAsync();

        await client.SendAsync(new IPEndPoint(IPAddress.Loopback, 0), "x"u8);

        await bridge.Metrics.WaitForAsync(1, "p2pnet.bridge.datagrams.dropped", "reason=destination_refused");
    }

    [Fact]
    public async Task MoreSpecificDeny_OverridesAllow()
    {
        await using TestBridge bridge = await TestBridge.StartAsync(o => o.DeniedNetworks.Add(IPNetwork.Parse("127.0.0.1/32")));
        await using var denied = new UdpEchoServer(IPAddress.Loopback);
        await using var allowed = new UdpEchoServer(IPAddress.Parse("127.0.0.2"));
        await using BridgeClient client = await bridge.ConnectAsync();

        await client.SendAsync(denied.EndPoint, "no"u8);
        await client.SendAsync(allowed.EndPoint, "yes"u8);

        (IPEndPoint source, byte[] payload) = await client.ReceiveAsync();
        Assert.Equal(allowed.EndPoint, source);
        Assert.Equal("yes"u8.ToArray(), payload);
        Assert.Equal(1, bridge.Metrics.Total("p2pnet.bridge.datagrams.dropped", "reason=destination_refused"));
        Assert.Equal(0, denied.Received);
    }

    [Fact]
    public async Task InboundFromDeniedSource_IsDropped()
    {
        await using TestBridge bridge = await TestBridge.StartAsync(o => o.DeniedNetworks.Add(IPNetwork.Parse("127.0.0.2/32")));
        await using BridgeClient client = await bridge.ConnectAsync();
        using var deniedPeer = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        deniedPeer.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
        using var allowedPeer = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        allowedPeer.Bind(new IPEndPoint(IPAddress.Loopback, 0));

        await deniedPeer.SendToAsync("denied"u8.ToArray(), client.Announced).WaitAsync(BridgeClient.Timeout);
        await bridge.Metrics.WaitForAsync(1, "p2pnet.bridge.datagrams.dropped", "reason=source_refused", "direction=to_websocket");
        await allowedPeer.SendToAsync("allowed"u8.ToArray(), client.Announced).WaitAsync(BridgeClient.Timeout);

        // Order is kept, so the first frame the browser sees is the allowed one.
        (IPEndPoint source, byte[] payload) = await client.ReceiveAsync();
        Assert.Equal(allowedPeer.LocalEndPoint, source);
        Assert.Equal("allowed"u8.ToArray(), payload);
    }
}
