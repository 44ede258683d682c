using System.Net;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using P2PNet.Networking.Internal;
using P2PNet.Proxy.UdpBridge.Internal;

namespace P2PNet.Proxy.Tests.UdpBridge;

/// <summary>The address policy's decisions, on raw addresses.</summary>
public sealed class AddressPolicyTests
{
    private static readonly AddressPolicy Default = new([], []);

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.255.0.9")]
    [InlineData("10.0.0.1")]
    [InlineData("172.31.255.255")]
    [InlineData("192.168.0.1")]
    [InlineData("100.127.0.1")]
    [InlineData("169.254.1.1")]
    [InlineData("224.0.0.1")]
    [InlineData("239.255.255.250")]
    [InlineData("255.255.255.255")]
    [InlineData("0.0.0.0")]
    [InlineData("::")]
    [InlineData("::1")]
    [InlineData("fe80::1")]
    [InlineData("fc00::1")]
    [InlineData("fdff::1")]
    [InlineData("ff02::fb")]
    [InlineData("::ffff:127.0.0.1")]
    [InlineData("::ffff:10.1.1.1")]
    [InlineData("::127.0.0.1")]
    [InlineData("64:ff9b::192.168.1.1")]
    public void Default_RefusesSpecialPurposeAddresses(string address) =>
        Assert.False(Default.IsAllowed(IPAddress.Parse(address)));

    [Theory]
    [InlineData("8.8.8.8")]
    [InlineData("1.1.1.1")]
    [InlineData("172.32.0.1")]
    [InlineData("100.128.0.1")]
    [InlineData("2001:4860:4860::8888")]
    [InlineData("2606:4700::1111")]
    [InlineData("::ffff:8.8.4.4")]
    [InlineData("64:ff9b::1.1.1.1")]
    public void Default_AllowsPublicAddresses(string address) =>
        Assert.True(Default.IsAllowed(IPAddress.Parse(address)));

    [Fact]
    public void AllowedNetwork_OverridesTheDefault()
    {
        var policy = new AddressPolicy([IPNetwork.Parse("127.0.0.0/8")], []);

        Assert.True(policy.IsAllowed(IPAddress.Parse("127.0.0.1")));
        Assert.True(policy.IsAllowed(IPAddress.Parse("::ffff:127.0.0.1")));
        Assert.False(policy.IsAllowed(IPAddress.Parse("10.0.0.1")));
        Assert.False(policy.IsAllowed(IPAddress.IPv6Loopback));
    }

    [Fact]
    public void DeniedNetwork_OverridesTheDefault()
    {
        var policy = new AddressPolicy([], [IPNetwork.Parse("8.8.8.0/24"), IPNetwork.Parse("2001:db8::/32")]);

        Assert.False(policy.IsAllowed(IPAddress.Parse("8.8.8.8")));
        Assert.False(policy.IsAllowed(IPAddress.Parse("::ffff:8.8.8.8")));
        Assert.False(policy.IsAllowed(IPAddress.Parse("2001:db8::5")));
        Assert.True(policy.IsAllowed(IPAddress.Parse("8.8.4.4")));
    }

    [Fact]
    public void MostSpecificRule_Wins()
    {
        var policy = new AddressPolicy(
            [IPNetwork.Parse("10.0.0.0/8"), IPNetwork.Parse("9.9.9.9/32")],
            [IPNetwork.Parse("10.1.0.0/16"), IPNetwork.Parse("0.0.0.0/0")]);

        Assert.True(policy.IsAllowed(IPAddress.Parse("10.2.3.4")));
        Assert.False(policy.IsAllowed(IPAddress.Parse("10.1.3.4")));
        Assert.True(policy.IsAllowed(IPAddress.Parse("9.9.9.9")));
        Assert.False(policy.IsAllowed(IPAddress.Parse("1.1.1.1")));
        Assert.True(policy.IsAllowed(IPAddress.Parse("2606:4700::1111")));
    }

    [Fact]
    public void EqualPrefixes_DenyWins()
    {
        var policy = new AddressPolicy([IPNetwork.Parse("127.0.0.0/8")], [IPNetwork.Parse("127.0.0.0/8")]);

        Assert.False(policy.IsAllowed(IPAddress.Loopback));
    }

    [Fact]
    public void NetworkWrittenAsIPv4Mapped_AppliesToIPv4()
    {
        var policy = new AddressPolicy([IPNetwork.Parse("::ffff:127.0.0.0/104")], []);

        Assert.True(policy.IsAllowed(IPAddress.Loopback));
    }

    [Property(MaxTest = 2000)]
    public Property Property_MappedIPv6_IsJudgedLikeItsIPv4()
    {
        var policy = new AddressPolicy([IPNetwork.Parse("10.20.0.0/16")], [IPNetwork.Parse("8.0.0.0/8")]);
        Gen<byte[]> ipv4 = Gen.Frequency(
            (1, Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>(), 4)),
            (1, Gen.Elements<byte>(0, 8, 10, 100, 127, 169, 172, 192, 224, 255).SelectMany(first =>
                Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>(), 3).Select(rest => (byte[])[first, .. rest]))));

        return Prop.ForAll(ipv4.ToArbitrary(), bytes =>
        {
            var v4 = new IPAddress(bytes);
            return policy.IsAllowed(v4) == policy.IsAllowed(v4.MapToIPv6());
        });
    }

    [Property(MaxTest = 500)]
    public Property Property_PrivateTenNet_IsAlwaysRefusedByDefault()
    {
        Gen<byte[]> tenNet = Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>(), 3).Select(rest => (byte[])[10, .. rest]);

        return Prop.ForAll(tenNet.ToArbitrary(), bytes => !Default.IsAllowed(bytes));
    }
}
