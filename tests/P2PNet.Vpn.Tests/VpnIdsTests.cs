using FsCheck;
using FsCheck.Xunit;
using P2PNet.Vpn.Internal;

namespace P2PNet.Vpn.Tests;

public class VpnIdsTests
{
    [Fact]
    public void Generated_Ids_Are32LowercaseHex_AndDiffer()
    {
        string[] ids = [.. Enumerable.Range(0, 100).Select(_ => VpnIds.Generate())];
        Assert.All(ids, id => Assert.Matches("^[0-9a-f]{32}$", id));
        Assert.Equal(ids.Length, ids.Distinct().Count());
    }

    [Property]
    public bool IsValid_AcceptsExactly32LowercaseHexCharacters(NonNull<string> text)
    {
        string s = text.Get;
        bool expected = s.Length == 32 && s.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f');
        return VpnIds.IsValid(s) == expected;
    }

    [Property]
    public bool IsValid_RefusesAnUppercaseOrShortenedId(byte[] bytes)
    {
        string id = Convert.ToHexStringLower(bytes.Length >= 16 ? bytes[..16] : [.. bytes, .. new byte[16 - bytes.Length]]);
        return VpnIds.IsValid(id) && !VpnIds.IsValid(id[..31]) && (id.Any(char.IsAsciiLetter) ? !VpnIds.IsValid(id.ToUpperInvariant()) : VpnIds.IsValid(id.ToUpperInvariant()));
    }

    [Fact]
    public void Options_WithAMalformedVpnId_AreRefused()
    {
        Assert.Throws<ArgumentException>(() => new VpnOptions { VpnId = "not-an-id" }.Validate());
        Assert.Throws<ArgumentException>(() => new VpnOptions { VpnId = new string('A', 32) }.Validate());
        new VpnOptions { VpnId = new string('a', 32) }.Validate();
    }

    [Fact]
    public void Protocol_AppendsTheIdAsALastSegment() =>
        Assert.Equal("/p2pnet/vpn/ip/2.0.0/" + new string('0', 32), VpnIds.Protocol(VpnEndpoint.OffloadIpProtocolId, new string('0', 32)));
}
