using P2PNet.Core.Tests.IO;
using P2PNet.Multiformats;

namespace P2PNet.Core.Tests.Multiformats;

public sealed class MultiaddrMalformedTests
{
    [Theory]
    [InlineData("/foo/1", "unknown protocol 'foo'")]
    [InlineData("/ip4/1.2.3.4/tcp/1/quic-v1/1234", "unknown protocol '1234'")] // quic-v1 takes no value
    [InlineData("/ip4/127.0.0.1/ws/80", "unknown protocol '80'")]
    [InlineData("/IP4/1.2.3.4", "unknown protocol 'IP4'")] // names are case-sensitive
    public void Parse_WithUnknownProtocol_ThrowsWireFormatException(string text, string fragment) =>
        WireFormatAssert.Throws(() => Multiaddr.Parse(text), fragment);

    [Theory]
    [InlineData("/ip4")]
    [InlineData("/ip6")]
    [InlineData("/tcp")]
    [InlineData("/udp/1234/sctp")]
    [InlineData("/ip4/127.0.0.1/tcp")]
    [InlineData("/ip4/127.0.0.1/p2p")]
    [InlineData("/dns4")]
    [InlineData("/ip4/127.0.0.1/udp/1234/quic-v1/webtransport/certhash")]
    public void Parse_WithMissingValue_ThrowsWireFormatException(string text) =>
        WireFormatAssert.Throws(() => Multiaddr.Parse(text), "needs a value");

    [Theory]
    [InlineData("/unix")]
    [InlineData("/ip4/1.2.3.4/tcp/80/unix")]
    [InlineData("/unix/")]
    public void Parse_UnixWithoutPath_ThrowsWireFormatException(string text) =>
        WireFormatAssert.Throws(() => Multiaddr.Parse(text), "path");

    [Theory]
    [InlineData("", "empty")]
    [InlineData("/", "empty protocol name")]
    [InlineData("ip4/1.2.3.4", "start with '/'")]
    [InlineData("//ip4/1.2.3.4", "empty protocol name")]
    [InlineData("/ip4/1.2.3.4//tcp/1", "empty protocol name")]
    [InlineData("/ip4/1.2.3.4/tcp/1//", "empty protocol name")]
    public void Parse_WithBadStructure_ThrowsWireFormatException(string text, string fragment) =>
        WireFormatAssert.Throws(() => Multiaddr.Parse(text), fragment);

    [Theory]
    [InlineData("1")]
    [InlineData("1.2.3")]
    [InlineData("1.2.3.4.5")]
    [InlineData("256.0.0.1")]
    [InlineData("1.2.3.999")]
    [InlineData("1.2.3.-4")]
    [InlineData("+1.2.3.4")]
    [InlineData("a.b.c.d")]
    [InlineData("1..3.4")]
    [InlineData("1.2.3.4 ")]
    [InlineData("::1")]
    [InlineData("fdpsofodsajfdoisa")]
    [InlineData("0x7f.0.0.1")]
    // Leading zeros are refused (decision, matching go since 1.17): some parsers read "010" as octal 8,
    // so "01.2.3.4" has no single meaning, and accepting it would make text -> binary -> text lossy.
    [InlineData("01.2.3.4")]
    [InlineData("127.000.0.1")]
    public void Parse_WithBadIp4_ThrowsWireFormatException(string value) =>
        WireFormatAssert.Throws(() => Multiaddr.Parse("/ip4/" + value), "IPv4");

    [Theory]
    [InlineData("1.2.3.4")]
    [InlineData("::1%eth0")]
    [InlineData("[::1]")]
    [InlineData(" ::1")]
    [InlineData("1:2:3:4:5:6:7:8:9")]
    [InlineData("::g")]
    [InlineData("fe80:::1")]
    public void Parse_WithBadIp6_ThrowsWireFormatException(string value) =>
        WireFormatAssert.Throws(() => Multiaddr.Parse("/ip6/" + value), "IPv6");

    [Theory]
    [InlineData("tcp", "65536")]
    [InlineData("udp", "65536")]
    [InlineData("tcp", "-1")]
    [InlineData("tcp", "+1")]
    [InlineData("tcp", " 1")]
    [InlineData("tcp", "1e3")]
    [InlineData("tcp", "0x50")]
    [InlineData("tcp", "abc")]
    [InlineData("udp", "000000080")]
    [InlineData("sctp", "99999999999999999999")]
    [InlineData("tcp", "\u0661")] // Arabic-Indic digit one: a digit, but not an ASCII one
    public void Parse_WithBadPort_ThrowsWireFormatException(string protocol, string value) =>
        WireFormatAssert.Throws(() => Multiaddr.Parse($"/{protocol}/{value}"), "port");

    [Theory]
    [InlineData("/p2p/QmxoHT6iViN5xAjoz1VZ553cL31U9F94ht3QvWR1FrEbZY")] // sha2-256 multihash with a 33-byte digest
    [InlineData("/p2p/k2k4r8oqamigqdo6o7hsbfwd45y70oyynp98usk7zmyfrzpqxh1pohl-")]
    [InlineData("/p2p/?unknownmultibase")]
    [InlineData("/p2p/k2jmtxwoe2phm1hbqp0e7nufqf6umvuu2e9qd7ana7h411a0haqj6i2z")] // a CID, but not of a libp2p key
    [InlineData("/ipfs/tcp")]
    public void Parse_WithBadPeerId_ThrowsWireFormatException(string text) =>
        WireFormatAssert.Throws(() => Multiaddr.Parse(text), text);

    [Theory]
    [InlineData("b2uaraocy6yrdblb4sfptaddgimjmmp")] // one character short of a valid md5 multihash
    [InlineData("x1234")] // unsupported multibase
    [InlineData("u")]
    [InlineData("uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8")] // digest one byte short
    [InlineData("uEiD Dq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g")]
    [InlineData("z\u00e9\u00e9")]
    public void Parse_WithBadCerthash_ThrowsWireFormatException(string value) =>
        WireFormatAssert.Throws(() => Multiaddr.Parse("/certhash/" + value));

    [Theory]
    [InlineData("/onion/9imaq4ygg2iegci7:80")]
    [InlineData("/onion/aaimaq4ygg2iegci7:80")]
    [InlineData("/onion/timaq4ygg2iegci7:0")]
    [InlineData("/onion/timaq4ygg2iegci7:-1")]
    [InlineData("/onion/timaq4ygg2iegci7")]
    [InlineData("/onion/timaq4ygg2iegci@:666")]
    [InlineData("/onion/TIMAQ4YGG2IEGCI7:80")]
    [InlineData("/onion3/9ww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:80")]
    [InlineData("/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd7:80")]
    [InlineData("/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:0")]
    [InlineData("/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd")]
    [InlineData("/garlic64/jT~IyXaoauTni6N4517EG8mrFUKpy0IlgZh-EY9csMAk82Odatmzr~YTZy8Hv7u")] // too short for I2P
    [InlineData("/garlic64/jT~IyXaoauTni6N4517EG8mr@UKpy0IlgZh")]
    [InlineData("/memory/18446744073709551616")]
    [InlineData("/memory/-1")]
    public void Parse_WithBadTorI2pOrMemoryValue_ThrowsWireFormatException(string text) =>
        WireFormatAssert.Throws(() => Multiaddr.Parse(text));

    [Fact]
    public void Parse_WithValueLongerThanTheLimit_ThrowsWireFormatException() =>
        WireFormatAssert.Throws(() => Multiaddr.Parse("/dns/" + new string('a', MultiaddrComponent.MaxValueLength + 1)), "longer than");

    [Fact]
    public void Parse_WithUnpairedSurrogate_ThrowsWireFormatException() =>
        WireFormatAssert.Throws(() => Multiaddr.Parse("/dns/a\ud800b"), "Unicode");

    [Fact]
    public void Parse_TextTooLong_ThrowsWireFormatException() =>
        WireFormatAssert.Throws(() => Multiaddr.Parse(string.Concat(Enumerable.Repeat("/ws", 6000))), "too long");

    [Fact]
    public void Parse_TextWhoseBinaryFormIsTooLong_ThrowsWireFormatException() =>
        WireFormatAssert.Throws(() => Multiaddr.Parse(string.Concat(Enumerable.Repeat("/tcp/1", 2000))), "more than");

    [Fact]
    public void Parse_Null_ThrowsArgumentNullException() =>
        Assert.Throws<ArgumentNullException>(() => Multiaddr.Parse((string)null!));

    [Theory]
    [InlineData("ff01", "unknown protocol code 0xff")]
    [InlineData("07", "unknown protocol code 0x7")]
    [InlineData("047f000001ff01", "unknown protocol code 0xff at byte 5")]
    public void FromBytes_WithUnknownCode_ThrowsWireFormatException(string hex, string fragment) =>
        WireFormatAssert.Throws(() => Multiaddr.FromBytes(Convert.FromHexString(hex)), fragment);

    [Theory]
    [InlineData("047f00", "truncated inside /ip4")]
    [InlineData("0601", "truncated inside /tcp")]
    [InlineData("047f0000010610", "truncated inside /tcp")]
    [InlineData("350a61", "truncated inside /dns")]
    [InlineData("a50322122000", "truncated inside /p2p")]
    [InlineData("35", "varint")]
    [InlineData("91", "varint")] // the protocol code itself is cut short
    [InlineData("3580", "varint")]
    public void FromBytes_Truncated_ThrowsWireFormatException(string hex, string fragment) =>
        WireFormatAssert.Throws(() => Multiaddr.FromBytes(Convert.FromHexString(hex)), fragment);

    [Theory]
    [InlineData("358108")] // 1025
    [InlineData("35ffffffff07")] // int.MaxValue
    [InlineData("35ffffffffffffffff7f")] // beyond int
    [InlineData("d203ffffffff07")]
    public void FromBytes_WithOverLongLength_ThrowsWireFormatException(string hex) =>
        WireFormatAssert.Throws(() => Multiaddr.FromBytes(Convert.FromHexString(hex)));

    [Theory]
    [InlineData("3500", "empty value")]
    [InlineData("3503612f62", "contains '/'")]
    [InlineData("3502c328", "UTF-8")]
    [InlineData("a503221221c05877cbae039d70a5e600ea02c6f9f2942439285c9e344e26f8d280c850fad6", "32-byte")] // go's bad /p2p
    [InlineData("a503030001ff", "")] // identity peer id that holds no key
    [InlineData("d203021200", "32-byte")]
    [InlineData("9003036162632f", "path")] // unix path without a leading '/'
    [InlineData("9003032f612f", "path")] // unix path ending in '/'
    [InlineData("9003022f61060001", "path must come last")]
    [InlineData("bc0300000000000000000000000000", "port")] // onion with port 0
    public void FromBytes_WithInvalidValue_ThrowsWireFormatException(string hex, string fragment) =>
        WireFormatAssert.Throws(() => Multiaddr.FromBytes(Convert.FromHexString(hex)), fragment);

    [Fact]
    public void FromBytes_LongerThanTheLimit_ThrowsWireFormatException() =>
        WireFormatAssert.Throws(() => Multiaddr.FromBytes(new byte[Multiaddr.MaxBinaryLength + 1]), "exceeds");

    [Fact]
    public void ComponentCreate_ValueThatCannotReadBack_ThrowsWireFormatException()
    {
        WireFormatAssert.Throws(() => MultiaddrComponent.Create(MultiaddrProtocol.Dns, "a/b"), "'/'");
        WireFormatAssert.Throws(() => MultiaddrComponent.Create(MultiaddrProtocol.Unix, "relative/path"), "path");
        WireFormatAssert.Throws(() => MultiaddrComponent.Create(MultiaddrProtocol.Ws, "x"), "no value");
    }
}
