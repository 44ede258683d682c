using P2PNet.Core.Tests.Multistream;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.Protocols.Ping;
using P2PNet.Security.Noise;
using P2PNet.Security.Pnet;
using P2PNet.Testing;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.Conformance.Upgrade;

/// <summary>
/// The host's seam for connections that are not dialled by one of its transports (circuit relay):
/// <see cref="P2PHost.UpgradeAndAddAsync"/> upgrades any raw connection through the same pipeline as TCP and registers it.
/// </summary>
public sealed class UpgradeAndAddTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TestPipes.Timeout;

    private async Task<P2PHost> StartHostAsync(SwarmKey? key = null)
    {
        var options = new P2PHostOptions { PrivateNetworkKey = key };
        var host = new P2PHost(options, XunitLoggerProvider.CreateFactory(output));
        await host.StartAsync().AsTask().WaitAsync(Timeout);
        return host;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task UpgradeAndAdd_OverInMemoryPipes_RegistersAUsableLimitedConnectionOnBothSides(bool privateNetwork)
    {
        SwarmKey? key = privateNetwork ? SwarmKey.Generate() : null;
        await using var dialer = await StartHostAsync(key);
        await using var listener = await StartHostAsync(key);
        var (left, right) = PipeTransportConnection.CreatePair();

        var outbound = dialer.UpgradeAndAddAsync(left, ConnectionDirection.Outbound, listener.PeerId, limited: true, CancellationToken.None);
        var inbound = listener.UpgradeAndAddAsync(right, ConnectionDirection.Inbound, expectedPeer: null, limited: true, CancellationToken.None);
        await Task.WhenAll(outbound, inbound).WaitAsync(Timeout);
        P2PConnection a = await outbound, b = await inbound;

        Assert.Equal(listener.PeerId, a.RemotePeer);
        Assert.Equal(dialer.PeerId, b.RemotePeer);
        Assert.True(a.IsLimited);
        Assert.True(b.IsLimited);
        Assert.Equal(key, a.PrivateNetworkKey);
        Assert.Equal(key, b.PrivateNetworkKey);
        Assert.Equal(ConnectionDirection.Outbound, a.Direction);
        Assert.Equal(ConnectionDirection.Inbound, b.Direction);
        Assert.Contains(a, dialer.Connections);
        Assert.Contains(b, listener.Connections);
        Assert.Equal(1, dialer.GetResourceUsage().System.OutboundConnections); // charged like any connection
        Assert.Equal(1, listener.GetResourceUsage().System.InboundConnections);
        // Streams work both ways: the upgraded pipe is as good as a dialled TCP connection.
        await foreach (var _ in PingProtocol.PingAsync(a, 2).WithCancellation(new CancellationTokenSource(Timeout).Token))
        {
        }
        await foreach (var _ in PingProtocol.PingAsync(b, 2).WithCancellation(new CancellationTokenSource(Timeout).Token))
        {
        }
        // The host dials the peer over the registered connection instead of needing an address.
        Assert.Same(a, await dialer.DialAsync(listener.PeerId).AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task DialledConnections_AreNotLimited()
    {
        await using var dialer = await StartHostAsync();
        await using var listener = await StartHostAsync();
        var addresses = await listener.ListenAsync(P2PNet.Multiformats.Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")).AsTask().WaitAsync(Timeout);
        var connection = await dialer.DialAsync(addresses[0].WithPeerId(listener.PeerId)).AsTask().WaitAsync(Timeout);
        Assert.False(connection.IsLimited);
        Assert.Null(connection.PrivateNetworkKey);
        Assert.Equal("/yamux/1.0.0", connection.Muxer);
    }

    [Fact]
    public async Task UpgradeAndAdd_ToTheWrongPeer_IsRefusedAndClosesTheRawConnection()
    {
        await using var dialer = await StartHostAsync();
        await using var listener = await StartHostAsync();
        using var stranger = PrivateKey.GenerateEd25519();
        var (left, right) = PipeTransportConnection.CreatePair();

        var outbound = dialer.UpgradeAndAddAsync(left, ConnectionDirection.Outbound, stranger.PublicKey.ToPeerId(), limited: true, CancellationToken.None);
        var inbound = listener.UpgradeAndAddAsync(right, ConnectionDirection.Inbound, expectedPeer: null, limited: true, CancellationToken.None);

        var error = await Assert.ThrowsAsync<NoiseHandshakeException>(() => outbound.WaitAsync(Timeout));
        Assert.Contains(stranger.PublicKey.ToPeerId().ToString(), error.Message, StringComparison.Ordinal);
        await Assert.ThrowsAnyAsync<IOException>(() => inbound.WaitAsync(Timeout));
        Assert.True(left.IsDisposed);
        Assert.True(right.IsDisposed);
        Assert.Empty(dialer.Connections);
        Assert.Empty(listener.Connections);
        Assert.True(dialer.GetResourceUsage().System.IsEmpty);
        Assert.True(listener.GetResourceUsage().System.IsEmpty);
    }
}
