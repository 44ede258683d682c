using P2PNet.Crypto;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Protocols.Dht;
using P2PNet.Testing;
using P2PNet.Testing.Interop;

namespace P2PNet.Core.Tests.Dht;

/// <summary>Value records against js-libp2p (<c>@libp2p/kad-dht</c> 16.4.5, server mode, <c>/ipfs/kad/1.0.0</c>): the
/// <c>/pk/</c> namespace both validate by default, so a public-key record js puts reaches us (its PUT_VALUE) and js
/// gets one we hold (our GET_VALUE answer, with its RFC 3339 <c>timeReceived</c>).</summary>
public sealed class DhtRecordJsInteropTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task APublicKeyRecordJsPuts_IsFoundByUs()
    {
        await using var js = await JsLibp2p.StartAsync(["listen", "--listen", "/ip4/127.0.0.1/tcp/0", "--put-pk"]);
        await using var group = await TestHostGroup.StartAsync(2);
        await using var dht = new KadDht(group[0]);
        dht.Start();
        await group[0].DialAsync(Multiaddr.Parse(js.ListenAddress())).AsTask().WaitAsync(Timeout);
        await js.WaitForLineAsync("PUT-DONE ", null, Timeout);

        var jsPeer = PeerId.Parse(js.PeerId);
        byte[] key = [.. "/pk/"u8, .. jsPeer.Bytes];
        // Our node stored js's PUT_VALUE: another of our hosts (no DHT) reads it from our node alone.
        await group[1].DialAsync(group[0].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        var stored = await DhtTestNetwork.RequestAsync(group[1], group[0].PeerId, DhtTestNetwork.Get(key));
        Assert.Equal(jsPeer, PublicKey.FromProtobuf(stored!.Record.Value.Span).ToPeerId());
        byte[]? value = await dht.GetValueAsync(key).WaitAsync(Timeout);
        Assert.NotNull(value);
        Assert.Equal(jsPeer, PublicKey.FromProtobuf(value).ToPeerId());
    }

    [Fact]
    public async Task JsGetsAPublicKeyRecordWeHold()
    {
        await using var group = await TestHostGroup.StartAsync(1);
        await using var dht = new KadDht(group[0]);
        dht.Start();
        byte[] key = [.. "/pk/"u8, .. group[0].PeerId.Bytes];
        await dht.PutValueAsync(key, group[0].PublicKey.ToProtobuf()).WaitAsync(Timeout); // stored here; no other DHT peer yet
        await using var js = await JsLibp2p.StartAsync(["listen", "--listen", "/ip4/127.0.0.1/tcp/0", "--get-value", Convert.ToHexStringLower(key)]);
        await group[0].DialAsync(Multiaddr.Parse(js.ListenAddress())).AsTask().WaitAsync(Timeout);

        await js.WaitForLineAsync("GET-DONE", null, Timeout);
        Assert.Contains($"VALUE {Convert.ToHexStringLower(group[0].PublicKey.ToProtobuf())}", js.Lines);
    }
}
