using P2PNet.Crypto;
using P2PNet.Discovery;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Testing;

namespace P2PNet.Core.Tests.Bootstrap;

public sealed class BootstrapTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);

    private static Task WaitForAsync(Func<bool> condition, TimeSpan timeout) =>
        Conditions.WaitUntilAsync(condition, timeout, "the awaited condition did not hold");

    [Fact]
    public async Task Bootstrap_PeerRestartsOnSamePort_IsRedialed()
    {
        using var identity = PrivateKey.GenerateEd25519();
        var first = new P2PHost(new P2PHostOptions { Identity = identity });
        Multiaddr address;
        try
        {
            address = Assert.Single(await first.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")).AsTask().WaitAsync(Step));
        }
        catch
        {
            await first.DisposeAsync();
            throw;
        }

        var options = new P2PHostOptions
        {
            Bootstrap = new BootstrapOptions { InitialBackoff = TimeSpan.FromMilliseconds(100), MaxBackoff = TimeSpan.FromMilliseconds(500) },
        };
        options.BootstrapPeers.Add(address);
        await using var node = new P2PHost(options);
        await node.StartAsync().AsTask().WaitAsync(Step);
        await WaitForAsync(() => node.GetConnections(first.PeerId).Count > 0, Step);

        await first.DisposeAsync();
        await WaitForAsync(() => node.GetConnections(first.PeerId).Count == 0, Step);

        // The bootstrap node comes back with the same key on the same port: the node re-dials it by itself.
        await using var second = new P2PHost(new P2PHostOptions { Identity = identity });
        await second.ListenAsync(address.WithoutPeerId()).AsTask().WaitAsync(Step);
        await WaitForAsync(() => node.GetConnections(second.PeerId).Count > 0, Step);
        Assert.Equal(first.PeerId, second.PeerId);
    }

    [Fact]
    public void Backoff_GrowsExponentially_IsBoundedAndJittered()
    {
        var options = new BootstrapOptions { InitialBackoff = TimeSpan.FromSeconds(1), MaxBackoff = TimeSpan.FromSeconds(60), Jitter = 0.2 };
        Assert.Equal(TimeSpan.FromSeconds(1), options.BackoffFor(0, 0.5));
        Assert.Equal(TimeSpan.FromSeconds(8), options.BackoffFor(3, 0.5));
        Assert.Equal(TimeSpan.FromSeconds(60), options.BackoffFor(50, 0.5));
        Assert.Equal(TimeSpan.FromSeconds(0.8), options.BackoffFor(0, 0));
        Assert.True(options.BackoffFor(50, 0.999_999) <= TimeSpan.FromSeconds(72));
        Assert.True(options.BackoffFor(int.MaxValue, 1) <= TimeSpan.FromSeconds(72));
    }

    [Fact]
    public void BootstrapPeer_WithoutPeerId_IsRejectedWhenTheHostIsCreated()
    {
        var options = new P2PHostOptions();
        options.BootstrapPeers.Add(Multiaddr.Parse("/ip4/127.0.0.1/tcp/4001"));
        var error = Assert.Throws<ArgumentException>(() => new P2PHost(options));
        Assert.Contains("/p2p/", error.Message, StringComparison.Ordinal);
    }

    private sealed class Gater(Func<PeerId, bool>? peer = null, Func<Multiaddr, bool>? accept = null, Func<PeerId, bool>? secured = null) : IConnectionGater
    {
        public bool AllowDialPeer(PeerId p) => peer?.Invoke(p) ?? true;

        public bool AllowAccept(Multiaddr remoteAddress) => accept?.Invoke(remoteAddress) ?? true;

        public bool AllowSecured(ConnectionDirection direction, PeerId p, Multiaddr remoteAddress) => secured?.Invoke(p) ?? true;
    }

    [Fact]
    public async Task Gater_DeniedPeer_IsNotDialed()
    {
        await using var server = new P2PHost();
        var address = (await server.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")).AsTask().WaitAsync(Step))[0];
        await using var client = new P2PHost(new P2PHostOptions { ConnectionGater = new Gater(peer: p => p != server.PeerId) });
        await Assert.ThrowsAsync<ConnectionGatedException>(() => client.DialAsync(address).AsTask()).WaitAsync(Step);
        Assert.Empty(server.Connections);
    }

    [Fact]
    public async Task Gater_DeniedAddress_IsNotAccepted()
    {
        await using var server = new P2PHost(new P2PHostOptions { ConnectionGater = new Gater(accept: a => !a.ToString().StartsWith("/ip4/127.", StringComparison.Ordinal)) });
        var address = (await server.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")).AsTask().WaitAsync(Step))[0];
        await using var client = new P2PHost();
        await Assert.ThrowsAnyAsync<Exception>(() => client.DialAsync(address).AsTask()).WaitAsync(Step);
        Assert.Empty(server.Connections);
    }

    [Fact]
    public async Task Gater_UnknownPeerAfterHandshake_IsRefusedWhileAllowedPeerConnects()
    {
        await using var allowed = new P2PHost();
        await using var stranger = new P2PHost();
        await using var server = new P2PHost(new P2PHostOptions { ConnectionGater = new Gater(secured: p => p == allowed.PeerId) });
        var address = (await server.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")).AsTask().WaitAsync(Step))[0];

        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            var connection = await stranger.DialAsync(address).AsTask();
            // The dialer may finish its side before the listener refuses: the connection must then die at once.
            // A single proposal is optimistic: the refusal shows once the negotiation is awaited.
            await using var stream = await connection.OpenStreamAsync(Protocols.Ping.PingProtocol.Id).AsTask();
            await stream.EnsureNegotiatedAsync();
        }).WaitAsync(Step);
        Assert.DoesNotContain(stranger.PeerId, server.ConnectedPeers);

        var ok = await allowed.DialAsync(address).AsTask().WaitAsync(Step);
        Assert.Equal(server.PeerId, ok.RemotePeer);
        await WaitForAsync(() => server.ConnectedPeers.Contains(allowed.PeerId), Step);
    }
}
