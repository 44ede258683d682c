using System.Security.Cryptography;
using P2PNet.Multiformats;
using P2PNet.Protocols.Dht;
using P2PNet.Testing;
using P2PNet.Testing.Interop;

namespace P2PNet.Core.Tests.Dht;

/// <summary>The DHT against js-libp2p (<c>@libp2p/kad-dht</c> 16.4.5 in server mode on <c>/ipfs/kad/1.0.0</c>): a
/// provider record js announces reaches us (its ADD_PROVIDER), and js finds a provider through us (our
/// GET_PROVIDERS answer). Keys are sha2-256 multihashes, what js puts on the wire for a CID.</summary>
public sealed class KadDhtJsInteropTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task AProviderJsAnnounces_IsFoundByUs()
    {
        byte[] multihash = [0x12, 0x20, .. RandomNumberGenerator.GetBytes(32)];
        await using var js = await JsLibp2p.StartAsync(["listen", "--listen", "/ip4/127.0.0.1/tcp/0", "--provide", Convert.ToHexStringLower(multihash)]);
        await using var group = await TestHostGroup.StartAsync(1);
        await using var dht = new KadDht(group[0]);
        dht.Start();
        await group[0].DialAsync(Multiaddr.Parse(js.ListenAddress())).AsTask().WaitAsync(Timeout);
        await js.WaitForLineAsync("PROVIDED ", null, Timeout);

        var providers = await dht.FindProvidersAsync(multihash).WaitAsync(Timeout);
        Assert.Contains(providers, p => p.Peer.ToString() == js.PeerId);
    }

    [Fact]
    public async Task JsFindsAProviderThroughUs()
    {
        byte[] multihash = [0x12, 0x20, .. RandomNumberGenerator.GetBytes(32)];
        await using var group = await TestHostGroup.StartAsync(1);
        await using var dht = new KadDht(group[0]);
        dht.Start();
        await dht.ProvideAsync(multihash).WaitAsync(Timeout); // recorded here; no other DHT peer yet
        await using var js = await JsLibp2p.StartAsync(["listen", "--listen", "/ip4/127.0.0.1/tcp/0", "--find-providers", Convert.ToHexStringLower(multihash)]);
        await group[0].DialAsync(Multiaddr.Parse(js.ListenAddress())).AsTask().WaitAsync(Timeout);

        await js.WaitForLineAsync("PROVIDERS-DONE", null, Timeout);
        Assert.Contains($"PROVIDER {group[0].PeerId}", js.Lines);
    }
}
