using System.Net;
using FsCheck;
using FsCheck.Xunit;
using P2PNet.Networking.Internal;
using P2PNet.Proxy.UdpBridge.Internal;

namespace P2PNet.Proxy.Tests.UdpBridge;

/// <summary>
/// IPv4 addresses carried inside IPv6 ones (mapped, compatible, SIIT, NAT64, 6to4, Teredo): refused prefixes by
/// default, operator rules matched against both the literal and the embedded address.
/// </summary>
public sealed class AddressPolicyEmbeddingTests
{
    private static readonly AddressPolicy Default = new([], []);

    /// <summary>An operator who allows every embedding prefix still gets every embedded IPv4 judged.</summary>
    private static readonly AddressPolicy EmbeddingsAllowed = new(
        [
            IPNetwork.Parse("2002::/16"),
            IPNetwork.Parse("2001::/32"),
            IPNetwork.Parse("64:ff9b::/96"),
            IPNetwork.Parse("64:ff9b:1::/48"),
            IPNetwork.Parse("::ffff:0:0:0/96"),
            IPNetwork.Parse("::/96"),
        ],
        []);

    private static readonly IPNetwork[] RefusedIPv4 = [.. AddressPolicy.DefaultRefusedIPv4.Select(IPNetwork.Parse)];

    [Theory]
    [InlineData("2002:0808:0808::1")]           // 6to4 of public 8.8.8.8
    [InlineData("2001:0:4136:e378:8000:63bf:f7f7:f7f7")] // Teredo, client 8.8.8.8
    [InlineData("64:ff9b:1:808:8:808::")]        // NAT64 local-use of 8.8.8.8
    [InlineData("::ffff:0:8.8.8.8")]             // SIIT of 8.8.8.8
    [InlineData("192.88.99.1")]                  // 6to4 relay anycast
    public void Default_RefusesTunnelAndTranslationPrefixes_EvenToPublicIPv4(string address) =>
        Assert.False(Default.IsAllowed(IPAddress.Parse(address)));

    [Fact]
    public void OperatorAllowingAnEmbeddingPrefix_AllowsItToPublicIPv4()
    {
        Assert.True(EmbeddingsAllowed.IsAllowed(IPAddress.Parse("2002:0808:0808::1")));
        Assert.True(EmbeddingsAllowed.IsAllowed(IPAddress.Parse("::ffff:0:8.8.8.8")));
        Assert.True(EmbeddingsAllowed.IsAllowed(IPAddress.Parse("64:ff9b:1:808:8:808::")));
    }

    [Fact]
    public void OperatorDenyingNat64WellKnownPrefix_RefusesNat64ToPublicIPv4()
    {
        var policy = new AddressPolicy([], [IPNetwork.Parse("64:ff9b::/96")]);

        Assert.False(policy.IsAllowed(IPAddress.Parse("64:ff9b::8.8.8.8")));
        Assert.True(policy.IsAllowed(IPAddress.Parse("8.8.8.8")));
    }

    [Property(MaxTest = 1000)]
    public void OperatorDeniedIPv6Prefix_RefusesEveryAddressUnderIt_WhateverIPv4ItEmbeds(uint ipv4)
    {
        var policy = new AddressPolicy([], [IPNetwork.Parse("64:ff9b::/96"), IPNetwork.Parse("2002::/16")]);
        byte[] v4 = V4(ipv4);
        Assert.False(policy.IsAllowed(Nat64WellKnown(v4)), $"64:ff9b::{new IPAddress(v4)} allowed");
        Assert.False(policy.IsAllowed(SixToFour(v4)), $"6to4 of {new IPAddress(v4)} allowed");
    }

    [Property(MaxTest = 2000)]
    public void DefaultRefusedIPv4_StaysRefused_InEveryEmbedding(byte range, uint host)
    {
        IPNetwork network = RefusedIPv4[range % RefusedIPv4.Length];
        byte[] v4 = InNetwork(network, host);

        foreach ((string name, byte[] embedded) in Embeddings(v4))
        {
            Assert.False(Default.IsAllowed(embedded), $"{name} of {new IPAddress(v4)} allowed by default");
            Assert.False(EmbeddingsAllowed.IsAllowed(embedded), $"{name} of {new IPAddress(v4)} allowed with the embedding prefixes allowed");
        }
    }

    [Property(MaxTest = 1000)]
    public void OperatorDeniedIPv4_StaysRefused_InEveryEmbedding(uint network, byte prefix, uint host)
    {
        // An operator's deny of a random network (the prefix kept at /8 or longer, the /0 case being trivial).
        int length = 8 + (prefix % 25);
        var denied = new IPNetwork(new IPAddress(V4(network & Mask(length))), length);
        var policy = new AddressPolicy(
            [IPNetwork.Parse("2002::/16"), IPNetwork.Parse("2001::/32"), IPNetwork.Parse("64:ff9b::/96"),
             IPNetwork.Parse("64:ff9b:1::/48"), IPNetwork.Parse("::ffff:0:0:0/96")],
            [denied]);
        byte[] v4 = InNetwork(denied, host);

        Assert.False(policy.IsAllowed(v4));
        foreach ((string name, byte[] embedded) in Embeddings(v4))
        {
            Assert.False(policy.IsAllowed(embedded), $"{name} of {new IPAddress(v4)} allowed although {denied} is denied");
        }
    }

    [Property(MaxTest = 1000)]
    public void MappedAndNat64WellKnown_AreJudgedLikeTheirIPv4_ByDefault(uint ipv4)
    {
        byte[] v4 = V4(ipv4);
        bool expected = Default.IsAllowed(v4);
        Assert.Equal(expected, Default.IsAllowed(Mapped(v4)));
        Assert.Equal(expected, Default.IsAllowed(Nat64WellKnown(v4)));
    }

    private static IEnumerable<(string Name, byte[] Address)> Embeddings(byte[] v4)
    {
        yield return ("mapped", Mapped(v4));
        yield return ("SIIT", Siit(v4));
        yield return ("NAT64 well-known", Nat64WellKnown(v4));
        yield return ("NAT64 local-use", Nat64LocalUse(v4));
        yield return ("6to4", SixToFour(v4));
        yield return ("Teredo client", TeredoClient(v4));
        if ((v4[0] | v4[1] | v4[2]) != 0)
        {
            yield return ("compatible", Compatible(v4));
        }
    }

    // The layouts, written out from the RFCs rather than taken from the code under test.
    private static byte[] Mapped(byte[] v4) => [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, .. v4];

    private static byte[] Compatible(byte[] v4) => [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, .. v4];

    private static byte[] Siit(byte[] v4) => [0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, .. v4];

    private static byte[] Nat64WellKnown(byte[] v4) => [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, .. v4];

    // RFC 6052 §2.2, /48 prefix: IPv4 bits 0-15 in bits 48-63, the "u" octet (bits 64-71) zero, IPv4 bits 16-31 next.
    private static byte[] Nat64LocalUse(byte[] v4) => [0, 0x64, 0xff, 0x9b, 0, 1, v4[0], v4[1], 0, v4[2], v4[3], 0, 0, 0, 0, 0];

    private static byte[] SixToFour(byte[] v4) => [0x20, 0x02, .. v4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

    // RFC 4380 §4: server 65.54.227.120 (public), flags, obfuscated port, then the client's IPv4 inverted.
    private static byte[] TeredoClient(byte[] v4) =>
        [0x20, 0x01, 0, 0, 0x41, 0x36, 0xe3, 0x78, 0x80, 0, 0x63, 0xbf, (byte)~v4[0], (byte)~v4[1], (byte)~v4[2], (byte)~v4[3]];

    private static byte[] V4(uint value) => [(byte)(value >> 24), (byte)(value >> 16), (byte)(value >> 8), (byte)value];

    private static uint Mask(int prefixLength) => prefixLength == 0 ? 0 : uint.MaxValue << (32 - prefixLength);

    private static byte[] InNetwork(IPNetwork network, uint host)
    {
        byte[] b = network.BaseAddress.GetAddressBytes();
        uint baseValue = (uint)(b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]);
        uint mask = Mask(network.PrefixLength);
        return V4((baseValue & mask) | (host & ~mask));
    }
}
