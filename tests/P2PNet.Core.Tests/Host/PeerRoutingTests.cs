using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Testing;

namespace P2PNet.Core.Tests.Host;

/// <summary>The host's peer-routing hook: a dial by peer id without known addresses asks <see cref="P2PHost.PeerRouting"/>,
/// stores what it finds and connects; the routing's own dials are not routed again.</summary>
public sealed class PeerRoutingTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task DialByPeerId_WithoutAddresses_UsesTheRoutingsAnswer_AndStoresIt()
    {
        await using var group = await TestHostGroup.StartAsync(2);
        var target = group[1];
        var routing = new ScriptedRouting(_ => Task.FromResult<IReadOnlyList<Multiaddr>>([target.ListenAddresses[0]]));
        group[0].PeerRouting = routing;

        var connection = await group[0].DialAsync(target.PeerId).AsTask().WaitAsync(Timeout);

        Assert.Equal(target.PeerId, connection.RemotePeer);
        Assert.Equal(1, routing.Calls);
        Assert.Contains(target.ListenAddresses[0].WithoutPeerId(), group[0].PeerStore.Get(target.PeerId)!.Addresses);
    }

    [Fact]
    public async Task DialsTheRoutingMakesWhileSearching_AreNotRoutedAgain()
    {
        await using var group = await TestHostGroup.StartAsync(1);
        using var key = PrivateKey.GenerateEd25519();
        using var other = PrivateKey.GenerateEd25519();
        var host = group[0];
        Exception? nested = null;
        var routing = new ScriptedRouting(async ct =>
        {
            // A lookup that meets a peer without addresses: its dial must fail at once, not start another lookup.
            nested = await Record.ExceptionAsync(async () => await host.DialAsync(other.PublicKey.ToPeerId(), ct));
            return [];
        });
        host.PeerRouting = routing;

        var error = await Assert.ThrowsAsync<PeerNotFoundException>(async () => await host.DialAsync(key.PublicKey.ToPeerId()).AsTask().WaitAsync(Timeout));

        Assert.Equal(key.PublicKey.ToPeerId(), error.Peer);
        Assert.Equal(1, routing.Calls);
        Assert.IsType<PeerNotFoundException>(nested);
    }

    private sealed class ScriptedRouting(Func<CancellationToken, Task<IReadOnlyList<Multiaddr>>> answer) : IPeerRouting
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public Task<IReadOnlyList<Multiaddr>> FindPeerAsync(PeerId peer, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _calls);
            return answer(cancellationToken);
        }
    }
}
