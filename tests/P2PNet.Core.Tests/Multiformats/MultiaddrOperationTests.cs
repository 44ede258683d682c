using System.Net;
using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Core.Tests.Multiformats;

public sealed class MultiaddrOperationTests
{
    private const string Relay = "QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC";
    private const string Target = "12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV";

    private static Multiaddr Ma(string text) => Multiaddr.Parse(text);

    [Fact]
    public void Encapsulate_AppendsTheOtherAddress()
    {
        var ma = Ma("/ip4/127.0.0.1/udp/1234").Encapsulate(Ma("/udp/5678"));
        Assert.Equal("/ip4/127.0.0.1/udp/1234/udp/5678", ma.ToString());
        Assert.Equal(ma, Ma("/ip4/127.0.0.1/udp/1234").Encapsulate("/udp/5678"));
    }

    [Fact]
    public void Encapsulate_Empty_GivesTheSameAddress()
    {
        var ma = Ma("/ip4/1.2.3.4/tcp/1");
        Assert.Equal(ma, ma.Encapsulate(Multiaddr.Empty));
        Assert.Equal(ma, Multiaddr.Empty.Encapsulate(ma));
    }

    // go-multiaddr's TestDecapsulate table; "" means nothing is left.
    [Theory]
    [InlineData("/ip4/1.2.3.4/tcp/1234", "/ip4/1.2.3.4", "")]
    [InlineData("/ip4/1.2.3.4", "/ip4/1.2.3.4/tcp/1234", "/ip4/1.2.3.4")]
    [InlineData("/ip4/1.2.3.5/tcp/1234", "/ip4/5.3.2.1", "/ip4/1.2.3.5/tcp/1234")]
    [InlineData("/ip4/1.2.3.5/udp/1234/quic-v1", "/udp/1234", "/ip4/1.2.3.5")]
    [InlineData("/ip4/1.2.3.6/udp/1234/quic-v1", "/udp/1234/quic-v1", "/ip4/1.2.3.6")]
    [InlineData("/ip4/1.2.3.7/tcp/1234", "/ws", "/ip4/1.2.3.7/tcp/1234")]
    [InlineData("/dnsaddr/wss.com/tcp/4001", "/ws", "/dnsaddr/wss.com/tcp/4001")]
    [InlineData("/dnsaddr/wss.com/tcp/4001/ws", "/wss", "/dnsaddr/wss.com/tcp/4001/ws")]
    [InlineData("/dnsaddr/wss.com/ws", "/wss", "/dnsaddr/wss.com/ws")]
    [InlineData("/dnsaddr/wss.com/ws", "/dnsaddr/wss.com", "")]
    [InlineData("/dnsaddr/wss.com/tcp/4001/wss", "/wss", "/dnsaddr/wss.com/tcp/4001")]
    [InlineData("/ip4/1.2.3.4/tcp/80", "/tcp/81", "/ip4/1.2.3.4/tcp/80")]
    public void Decapsulate_RemovesTheSuffixStartingAtTheMatch(string address, string suffix, string expected)
    {
        var result = Ma(address).Decapsulate(Ma(suffix));
        Assert.Equal(expected, result.ToString());
        Assert.Equal(expected.Length == 0, result.IsEmpty);
    }

    [Fact]
    public void Decapsulate_RepeatedMatch_CutsAtTheLastOccurrence()
    {
        var ma = Ma($"/ip4/1.2.3.4/tcp/1/p2p/{Relay}/p2p-circuit/ip4/1.2.3.4/tcp/1/ws");
        Assert.Equal($"/ip4/1.2.3.4/tcp/1/p2p/{Relay}/p2p-circuit", ma.Decapsulate(Ma("/ip4/1.2.3.4/tcp/1")).ToString());
    }

    [Fact]
    public void Decapsulate_EmptyAddress_ReturnsTheSameAddress()
    {
        var ma = Ma("/ip4/1.2.3.4/tcp/1");
        Assert.Same(ma, ma.Decapsulate(Multiaddr.Empty));
    }

    [Fact]
    public void DecapsulateProtocol_CutsAtTheLastComponentOfThatProtocol()
    {
        var ma = Ma($"/ip4/1.2.3.4/tcp/1/p2p/{Relay}/p2p-circuit/p2p/{Target}");
        Assert.Equal($"/ip4/1.2.3.4/tcp/1/p2p/{Relay}/p2p-circuit", ma.Decapsulate(MultiaddrProtocol.P2p).ToString());
        Assert.Equal("/ip4/1.2.3.4", ma.Decapsulate(MultiaddrProtocol.Tcp).ToString());
        Assert.Same(ma, ma.Decapsulate(MultiaddrProtocol.Udp));
    }

    [Fact]
    public void GetPeerId_RelayedAddress_GivesTheLastPeerId()
    {
        var ma = Ma($"/ip4/1.2.3.4/tcp/1/p2p/{Relay}/p2p-circuit/p2p/{Target}");
        Assert.Equal(PeerId.Parse(Target), ma.GetPeerId());
        Assert.Equal(PeerId.Parse(Relay), ma.Decapsulate(MultiaddrProtocol.P2pCircuit).GetPeerId());
    }

    [Fact]
    public void GetPeerId_NoP2pComponent_ReturnsNull() =>
        Assert.Null(Ma("/ip4/1.2.3.4/tcp/1").GetPeerId());

    [Fact]
    public void WithPeerId_AppendsOrReplacesTheTrailingPeerId()
    {
        var relay = PeerId.Parse(Relay);
        var target = PeerId.Parse(Target);

        Assert.Equal($"/ip4/1.2.3.4/tcp/1/p2p/{Target}", Ma("/ip4/1.2.3.4/tcp/1").WithPeerId(target).ToString());
        Assert.Equal($"/ip4/1.2.3.4/tcp/1/p2p/{Target}", Ma($"/ip4/1.2.3.4/tcp/1/p2p/{Relay}").WithPeerId(target).ToString());
        Assert.Equal($"/p2p/{Relay}/p2p-circuit/p2p/{Target}", Ma($"/p2p/{Relay}/p2p-circuit").WithPeerId(target).ToString());
        Assert.Equal($"/p2p/{Relay}", Multiaddr.Empty.WithPeerId(relay).ToString());
    }

    [Fact]
    public void WithoutPeerId_RemovesOnlyATrailingPeerId()
    {
        Assert.Equal("/ip4/1.2.3.4/tcp/1", Ma($"/ip4/1.2.3.4/tcp/1/p2p/{Target}").WithoutPeerId().ToString());
        Assert.Equal($"/p2p/{Relay}/p2p-circuit", Ma($"/p2p/{Relay}/p2p-circuit").WithoutPeerId().ToString());
        Assert.Equal("/ip4/1.2.3.4/tcp/1", Ma("/ip4/1.2.3.4/tcp/1").WithoutPeerId().ToString());
        Assert.True(Multiaddr.Empty.WithoutPeerId().IsEmpty);
    }

    [Fact]
    public void Contains_AndTryGetValue_FindTheFirstComponent()
    {
        var ma = Ma("/ip4/1.2.3.4/tcp/1/ip4/5.6.7.8/tcp/2/ws");
        Assert.True(ma.Contains(MultiaddrProtocol.Ws));
        Assert.False(ma.Contains(MultiaddrProtocol.Wss));
        Assert.True(ma.TryGetValue(MultiaddrProtocol.Ip4, out string? ip));
        Assert.Equal("1.2.3.4", ip);
        Assert.True(ma.TryGetValue(MultiaddrProtocol.Ws, out string? none));
        Assert.Equal(string.Empty, none);
        Assert.False(ma.TryGetValue(MultiaddrProtocol.Udp, out _));
    }

    [Theory]
    [InlineData("/ip4/127.0.0.1/tcp/4001", "127.0.0.1", 4001)]
    [InlineData("/ip4/10.0.0.1/tcp/65535/p2p/" + Target, "10.0.0.1", 65535)]
    [InlineData("/ip6/::1/tcp/0", "::1", 0)]
    [InlineData("/ip6/2001:db8::1/tcp/443/tls/ws", "2001:db8::1", 443)]
    public void TryGetTcpEndPoint_IpThenTcp_GivesTheEndPoint(string text, string ip, int port)
    {
        Assert.True(Ma(text).TryGetTcpEndPoint(out var endPoint));
        Assert.Equal(new IPEndPoint(IPAddress.Parse(ip), port), endPoint);
    }

    [Theory]
    [InlineData("/ip4/127.0.0.1/udp/4001")]
    [InlineData("/dns4/example.com/tcp/4001")]
    [InlineData("/tcp/4001")]
    [InlineData("/ip4/127.0.0.1")]
    [InlineData("/p2p/" + Target + "/ip4/127.0.0.1/tcp/1")]
    public void TryGetTcpEndPoint_NotIpThenTcp_ReturnsFalse(string text)
    {
        Assert.False(Ma(text).TryGetTcpEndPoint(out var endPoint));
        Assert.Null(endPoint);
    }

    [Fact]
    public void TryGetTcpEndPoint_EmptyAddress_ReturnsFalse() =>
        Assert.False(Multiaddr.Empty.TryGetTcpEndPoint(out _));

    [Fact]
    public void TryGetUdpEndPoint_IpThenUdp_GivesTheEndPoint()
    {
        Assert.True(Ma("/ip4/1.2.3.4/udp/4001/quic-v1").TryGetUdpEndPoint(out var endPoint));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("1.2.3.4"), 4001), endPoint);
        Assert.False(Ma("/ip4/1.2.3.4/tcp/4001").TryGetUdpEndPoint(out _));
    }

    [Theory]
    [InlineData("127.0.0.1", 4001, "/ip4/127.0.0.1/tcp/4001")]
    [InlineData("0.0.0.0", 0, "/ip4/0.0.0.0/tcp/0")]
    [InlineData("::1", 65535, "/ip6/::1/tcp/65535")]
    [InlineData("fe80::1", 80, "/ip6/fe80::1/tcp/80")]
    [InlineData("::ffff:192.0.2.1", 443, "/ip4/192.0.2.1/tcp/443")] // IPv4-mapped addresses are written as ip4
    public void FromTcpEndPoint_GivesTheIpAndTcpAddress(string ip, int port, string expected)
    {
        var ma = Multiaddr.FromTcpEndPoint(new IPEndPoint(IPAddress.Parse(ip), port));
        Assert.Equal(expected, ma.ToString());
        Assert.True(ma.TryGetTcpEndPoint(out var back));
        Assert.Equal(port, back.Port);
    }
}
