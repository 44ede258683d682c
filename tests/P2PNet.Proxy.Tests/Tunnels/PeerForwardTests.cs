using System.Net;
using System.Net.Sockets;
using System.Text;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Proxy.Tunnels;

namespace P2PNet.Proxy.Tests.Tunnels;

/// <summary>Peer-to-peer forwarding without a server: only listed targets, only to allowed peers.</summary>
public sealed class PeerForwardTests
{
    private static readonly TimeSpan Timeout = TunnelLab.Timeout;

    private static async Task<(P2PHost Target, P2PHost Forwarder)> StartPairAsync(CancellationToken cancellationToken)
    {
        var target = new P2PHost();
        await target.StartAsync(cancellationToken);
        await target.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"), cancellationToken);
        var forwarder = new P2PHost();
        var address = target.ListenAddresses[0];
        await forwarder.DialAsync(address.GetPeerId() is null ? Multiaddr.Parse($"{address}/p2p/{target.PeerId}") : address, cancellationToken);
        return (target, forwarder);
    }

    [Fact]
    public async Task Forward_ToAListedTargetFromAnAllowedPeer_CarriesBytesAndHalfClose()
    {
        using var cts = new CancellationTokenSource(Timeout);
        await using var echo = new TcpEchoServer(Encoding.ASCII.GetBytes("|fin"));
        var (targetHost, forwarderHost) = await StartPairAsync(cts.Token);
        await using var _ = targetHost;
        await using var __ = forwarderHost;
        var options = new ForwardTargetOptions();
        options.Targets["echo"] = echo.EndPoint;
        options.AllowedPeers.Add(forwarderHost.PeerId);
        await using var target = new ForwardTarget(targetHost, options);
        target.Start();
        await using var forwarder = new PortForwarder(forwarderHost, targetHost.PeerId, "echo", new IPEndPoint(IPAddress.Loopback, 0));
        await forwarder.StartAsync(cts.Token);

        using var socket = await TunnelLab.ConnectAsync(forwarder.LocalEndPoint!.Port, cts.Token);
        await socket.SendAsync(Encoding.ASCII.GetBytes("hello"), SocketFlags.None, cts.Token);
        socket.Shutdown(SocketShutdown.Send);
        Assert.Equal("hello|fin", Encoding.ASCII.GetString(await socket.ReadToEndAsync(cts.Token)));
    }

    [Fact]
    public async Task Forward_FromAPeerNotAllowed_IsRefused()
    {
        using var cts = new CancellationTokenSource(Timeout);
        await using var echo = new TcpEchoServer();
        var (targetHost, forwarderHost) = await StartPairAsync(cts.Token);
        await using var _ = targetHost;
        await using var __ = forwarderHost;
        var options = new ForwardTargetOptions();
        options.Targets["echo"] = echo.EndPoint;
        options.AllowedPeers.Add(Crypto.PrivateKey.GenerateEd25519().PublicKey.ToPeerId());
        await using var target = new ForwardTarget(targetHost, options);
        target.Start();
        await using var forwarder = new PortForwarder(forwarderHost, targetHost.PeerId, "echo", new IPEndPoint(IPAddress.Loopback, 0));
        var e = await Assert.ThrowsAsync<TunnelRegistrationException>(() => forwarder.StartAsync(cts.Token));
        Assert.Contains("peer not allowed", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, echo.Accepted);
    }

    [Fact]
    public async Task Forward_ToATargetNotListed_IsRefused()
    {
        using var cts = new CancellationTokenSource(Timeout);
        await using var echo = new TcpEchoServer();
        var (targetHost, forwarderHost) = await StartPairAsync(cts.Token);
        await using var _ = targetHost;
        await using var __ = forwarderHost;
        var options = new ForwardTargetOptions { AllowAnyPeer = true };
        options.Targets["echo"] = echo.EndPoint;
        await using var target = new ForwardTarget(targetHost, options);
        target.Start();
        await using var forwarder = new PortForwarder(forwarderHost, targetHost.PeerId, "ssh", new IPEndPoint(IPAddress.Loopback, 0));
        var e = await Assert.ThrowsAsync<TunnelRegistrationException>(() => forwarder.StartAsync(cts.Token));
        Assert.Contains("no such target", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, echo.Accepted);
    }
}
