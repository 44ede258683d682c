using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Core.Tests.Multiformats;

public sealed class MultiaddrCodecTests
{
    [Theory]
    [MemberData(nameof(MultiaddrVectors.Canonical), MemberType = typeof(MultiaddrVectors))]
    [MemberData(nameof(MultiaddrVectors.TorAndI2p), MemberType = typeof(MultiaddrVectors))]
    public void Parse_KnownText_GivesKnownBinary(string text, string hex) =>
        Assert.Equal(hex, Convert.ToHexStringLower(Multiaddr.Parse(text).ToBytes()));

    [Theory]
    [MemberData(nameof(MultiaddrVectors.Canonical), MemberType = typeof(MultiaddrVectors))]
    [MemberData(nameof(MultiaddrVectors.TorAndI2p), MemberType = typeof(MultiaddrVectors))]
    public void FromBytes_KnownBinary_GivesKnownText(string text, string hex) =>
        Assert.Equal(text, Multiaddr.FromBytes(Convert.FromHexString(hex)).ToString());

    [Theory]
    [MemberData(nameof(MultiaddrVectors.Canonical), MemberType = typeof(MultiaddrVectors))]
    public void Parse_KnownText_ReadsBackExactly(string text, string hex)
    {
        var parsed = Multiaddr.Parse(text);
        Assert.Equal(text, parsed.ToString());
        Assert.Equal(Multiaddr.FromBytes(Convert.FromHexString(hex)), parsed);
    }

    [Theory]
    [InlineData("/ipfs/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC", "/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC")]
    [InlineData("/p2p/bafzbeigvf25ytwc3akrijfecaotc74udrhcxzh2cx3we5qqnw5vgrei4bm", "/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC")]
    [InlineData("/p2p/k2k4r8oqamigqdo6o7hsbfwd45y70oyynp98usk7zmyfrzpqxh1pohl7", "/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC")]
    [InlineData("/p2p/bafzaajaiaejcalj543iwv2d7pkjt7ykvefrkfu7qjfi6sduakhso4lay6abn2d5u", "/p2p/12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV")]
    [InlineData("/ip4/127.0.0.1/ipfs/k51qzi5uqu5dhb6l8spkdx7yxafegfkee5by8h7lmjh2ehc2sgg34z7c15vzqs/tcp/1234", "/ip4/127.0.0.1/p2p/12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV/tcp/1234")]
    [InlineData("/ip4/127.0.0.1/tcp/1234/", "/ip4/127.0.0.1/tcp/1234")] // one trailing slash is dropped
    [InlineData("/tcp/01", "/tcp/1")] // ports are plain decimal numbers; leading zeros are read and dropped
    [InlineData("/ip6/2001:DB8:0:0::1/udp/1", "/ip6/2001:db8::1/udp/1")]
    [InlineData("/ip4/127.0.0.1/udp/1234/quic-v1/webtransport/certhash/b2uaraocy6yrdblb4sfptaddgimjmmpy",
        "/ip4/127.0.0.1/udp/1234/quic-v1/webtransport/certhash/u1QEQOFj2IjCsPJFfMAxmQxLGPw")] // any multibase in, base64url out
    [InlineData("/certhash/zQmbWTwYGcmdyK9CYfNBcfs9nhZs17a6FQ4Y8oea278xx41", "/certhash/uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g")]
    public void Parse_NonCanonicalText_NormalizesToCanonicalText(string text, string canonical)
    {
        var parsed = Multiaddr.Parse(text);
        Assert.Equal(canonical, parsed.ToString());
        Assert.Equal(Multiaddr.Parse(canonical), parsed);
    }

    [Fact]
    public void Components_ExposeProtocolsAndValues()
    {
        var ma = Multiaddr.Parse("/dns4/example.com/tcp/443/wss/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA");

        Assert.Equal(
            [MultiaddrProtocol.Dns4, MultiaddrProtocol.Tcp, MultiaddrProtocol.Wss, MultiaddrProtocol.P2p],
            ma.Components.Select(c => c.Protocol));
        Assert.Equal(["example.com", "443", "", "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"], ma.Components.Select(c => c.ValueText));
        Assert.Equal(["/dns4/example.com", "/tcp/443", "/wss", "/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"],
            ma.Components.Select(c => c.ToString()));
        Assert.Equal(ma, Multiaddr.Create(ma.Components));
    }

    [Fact]
    public void Protocols_HaveTheCodesOfTheMultiaddrTable()
    {
        // multiformats/multiaddr protocols.csv (decimal codes).
        var expected = new Dictionary<string, int>
        {
            ["ip4"] = 4, ["tcp"] = 6, ["udp"] = 273, ["dccp"] = 33, ["ip6"] = 41, ["ip6zone"] = 42, ["dns"] = 53, ["dns4"] = 54,
            ["dns6"] = 55, ["dnsaddr"] = 56, ["sctp"] = 132, ["udt"] = 301, ["utp"] = 302, ["unix"] = 400, ["p2p"] = 421,
            ["ipfs"] = 421, ["onion"] = 444, ["onion3"] = 445, ["garlic64"] = 446, ["tls"] = 448, ["sni"] = 449, ["noise"] = 454,
            ["quic"] = 460, ["quic-v1"] = 461, ["webtransport"] = 465, ["certhash"] = 466, ["http"] = 480, ["https"] = 443,
            ["ws"] = 477, ["wss"] = 478, ["p2p-websocket-star"] = 479, ["p2p-webrtc-direct"] = 276, ["webrtc-direct"] = 280,
            ["webrtc"] = 281, ["p2p-circuit"] = 290, ["memory"] = 777,
        };
        foreach (var (name, code) in expected)
        {
            Assert.True(MultiaddrProtocol.TryGet(name, out var byName), name);
            Assert.Equal(code, byName.Code);
            Assert.True(MultiaddrProtocol.TryGet(code, out var byCode), name);
            Assert.Equal(name == "ipfs" ? "p2p" : name, byCode.Name);
        }
    }

    [Fact]
    public void Empty_HasNoComponentsAndNoBytes()
    {
        Assert.True(Multiaddr.Empty.IsEmpty);
        Assert.Equal(string.Empty, Multiaddr.Empty.ToString());
        Assert.Empty(Multiaddr.Empty.ToBytes());
        Assert.Equal(Multiaddr.Empty, Multiaddr.FromBytes([])); // an empty byte string is the empty address
        Assert.False(Multiaddr.TryParse("", out _)); // but there is no empty text form
    }

    [Fact]
    public void ToBytes_ReturnsACopy()
    {
        var ma = Multiaddr.Parse("/ip4/1.2.3.4/tcp/5");
        byte[] bytes = ma.ToBytes();
        bytes[1] = 99;
        Assert.Equal("/ip4/1.2.3.4/tcp/5", Multiaddr.FromBytes(ma.ToBytes()).ToString());
    }

    [Fact]
    public void Equality_IsByBinaryForm()
    {
        var a = Multiaddr.Parse("/ip4/1.2.3.4/tcp/5/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC");
        var b = Multiaddr.Parse("/ip4/1.2.3.4/tcp/5/ipfs/bafzbeigvf25ytwc3akrijfecaotc74udrhcxzh2cx3we5qqnw5vgrei4bm");
        var c = Multiaddr.Parse("/ip4/1.2.3.4/tcp/6/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC");

        Assert.Equal(a, b);
        Assert.True(a == b);
        Assert.False(a != b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, c);
        Assert.True(a != c);
        Assert.False(a.Equals(null));
        Assert.False(a == null);
        Assert.True((Multiaddr?)null == null);
        Assert.Equal(2, new HashSet<Multiaddr> { a, b, c }.Count);
        Assert.Equal(a.Components[2], b.Components[2]);
        Assert.NotEqual(a.Components[1], c.Components[1]);
    }

    [Fact]
    public void SpanParsable_ParsesLikeParse()
    {
        Assert.Equal(Multiaddr.Parse("/ip4/1.2.3.4/udp/5"), ParseVia<Multiaddr>("/ip4/1.2.3.4/udp/5"));
        Assert.True(Multiaddr.TryParse("/dns/x/tcp/1", out var parsed));
        Assert.Equal("/dns/x/tcp/1", parsed.ToString());
        Assert.False(Multiaddr.TryParse("/nope", out _));
        Assert.False(Multiaddr.TryParse(null, out _));
    }

    private static T ParseVia<T>(string s) where T : ISpanParsable<T> => T.Parse(s.AsSpan(), null);

    [Fact]
    public void ComponentCreate_BuildsTheSameAsParsing()
    {
        var tcp = MultiaddrComponent.Create(MultiaddrProtocol.Tcp, "4001");
        var p2p = MultiaddrComponent.Create(MultiaddrProtocol.P2p, "QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC");
        Assert.Equal(Multiaddr.Parse("/tcp/4001/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC"), Multiaddr.Create([tcp, p2p]));
        Assert.Equal(PeerId.Parse("QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC").ToBytes(), p2p.Value.ToArray());
    }
}
