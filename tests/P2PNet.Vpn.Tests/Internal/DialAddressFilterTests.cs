using System.Net;
using FsCheck;
using FsCheck.Xunit;
using P2PNet.Multiformats;
using P2PNet.Vpn.Internal;

namespace P2PNet.Vpn.Tests;

public class DialAddressFilterTests
{
    [Fact]
    public void PeerSeenFromARoutableAddress_LoopbackDropped_UnspecifiedReplacedByTheObservedAddress()
    {
        var filtered = DialAddressFilter.Filter(
            new[] { "/ip4/127.0.0.1/tcp/4001", "/ip6/::1/tcp/4001", "/ip4/0.0.0.0/tcp/4001", "/ip4/198.51.100.4/tcp/4002", "/dns4/vpn.example/tcp/4001" }
                .Select(Multiaddr.Parse),
            Multiaddr.Parse("/ip4/203.0.113.9/tcp/53000"));

        Assert.Equal(["/ip4/203.0.113.9/tcp/4001", "/ip4/198.51.100.4/tcp/4002", "/dns4/vpn.example/tcp/4001"], filtered.Select(a => a.ToString()));
    }

    [Fact]
    public void PeerSeenOverIPv6_UnspecifiedIPv6ReplacedAndIPv4UnspecifiedDropped()
    {
        var filtered = DialAddressFilter.Filter(new[] { "/ip6/::/tcp/4001", "/ip4/0.0.0.0/tcp/4001" }.Select(Multiaddr.Parse),
            Multiaddr.Parse("/ip6/2001:db8::7/tcp/53000"));

        Assert.Equal(["/ip6/2001:db8::7/tcp/4001"], filtered.Select(a => a.ToString()));
    }

    [Property(MaxTest = 500)]
    public bool AnyAdvertisedIPv4Addresses_NeverYieldUndialableOnes(byte[][] ips, bool observedLoopback)
    {
        var advertised = ips.Where(b => b is { Length: >= 4 }).Select(b => Multiaddr.Parse($"/ip4/{new IPAddress(b.AsSpan(0, 4))}/tcp/4001"));
        var observed = Multiaddr.Parse(observedLoopback ? "/ip4/127.0.0.1/tcp/1" : "/ip4/203.0.113.9/tcp/1");
        var filtered = DialAddressFilter.Filter(advertised, observed);
        return filtered.Count <= DialAddressFilter.MaxAddresses
            && filtered.Select(a => a.ToString()).Distinct().Count() == filtered.Count
            && filtered.All(a => a.TryGetValue(MultiaddrProtocol.Ip4, out string? v) && IPAddress.Parse(v) is var ip
                && !ip.Equals(IPAddress.Any) && !ip.Equals(IPAddress.Broadcast)
                && !(ip.GetAddressBytes() is [169, 254, ..]) && !(ip.GetAddressBytes()[0] is >= 224 and <= 239)
                && (observedLoopback || !IPAddress.IsLoopback(ip)));
    }
}
