using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Discovery;
using P2PNet.Discovery.Mdns;
using P2PNet.Discovery.Mdns.Internal;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Security.Pnet;

namespace P2PNet.Core.Tests.Discovery;

public sealed class MdnsAnswerTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Answer_CarriesPtrAndOneDnsaddrTxtPerListenAddress()
    {
        await using var host = new P2PHost();
        await host.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")).AsTask().WaitAsync(Step);
        await host.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0/ws")).AsTask().WaitAsync(Step);
        await using var mdns = new MdnsDiscovery(host, new MdnsOptions(), NullLogger.Instance);

        Assert.InRange(mdns.PeerName.Length, 32, 63);
        Assert.Matches("^[a-z0-9]+$", mdns.PeerName);
        var message = DnsMessageCodec.Parse(mdns.BuildAnswer());
        Assert.True(message.IsResponse);
        var ptr = Assert.Single(message.Answers);
        Assert.Equal("_p2p._udp.local", ptr.Name);
        Assert.Equal(DnsType.Ptr, ptr.Type);
        Assert.Equal(mdns.PeerName + "._p2p._udp.local", ((DnsPtrData)ptr.Data).Target);

        var announced = message.Additionals
            .Where(r => r.Type == DnsType.Txt && r.Name == mdns.PeerName + "._p2p._udp.local")
            .SelectMany(r => ((DnsTxtData)r.Data).Strings)
            .Select(s => Encoding.UTF8.GetString(s))
            .ToArray();
        Assert.Equal(host.ListenAddresses.Select(a => "dnsaddr=" + a).Order(), announced.Order());
        Assert.All(announced, a => Assert.EndsWith("/p2p/" + host.PeerId, a, StringComparison.Ordinal));
    }

    [Fact]
    public async Task ServiceName_FollowsTheHostsSwarmKey_UnlessOverridden()
    {
        var key = SwarmKey.Generate();
        await using var host = new P2PHost(new P2PHostOptions { PrivateNetworkKey = key });
        await using var derived = new MdnsDiscovery(host, new MdnsOptions(), NullLogger.Instance);
        Assert.Equal($"_p2p-{key.FingerprintHex[..8]}._udp.local", derived.ServiceName);
        await using var overridden = new MdnsDiscovery(host, new MdnsOptions { ServiceName = "_p2p._udp.local" }, NullLogger.Instance);
        Assert.Equal("_p2p._udp.local", overridden.ServiceName);
    }
}
