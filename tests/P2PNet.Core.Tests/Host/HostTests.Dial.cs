using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography;
using Google.Protobuf.WellKnownTypes;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Muxing;
using P2PNet.Networking;
using P2PNet.Protocols.Echo;
using P2PNet.Protocols.Perf;
using P2PNet.Protocols.Ping;
using P2PNet.Security.Noise;
using P2PNet.Testing;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.Host;

/// <summary>Dialing (peer id checks, connection reuse, muxer negotiation) and listening.</summary>
public sealed partial class HostTests
{
    [Fact]
    public async Task ListenAddresses_EndWithOwnPeerId_AndUseTheBoundPort()
    {
        await using var hosts = await StartAsync(1);
        var address = Assert.Single(hosts[0].ListenAddresses);
        Assert.Equal(hosts[0].PeerId, address.GetPeerId());
        Assert.True(address.TryGetTcpEndPoint(out var endPoint));
        Assert.NotEqual(0, endPoint.Port);
    }

    [Fact]
    public async Task Dial_ThenPing_ReturnsRoundTripTimes()
    {
        await using var hosts = await StartAsync(2);
        var connection = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        Assert.Equal(hosts[1].PeerId, connection.RemotePeer);
        var rtts = new List<TimeSpan>();
        await foreach (var rtt in PingProtocol.PingAsync(connection, 5).WithCancellation(new CancellationTokenSource(Timeout).Token))
        {
            rtts.Add(rtt);
        }
        Assert.Equal(5, rtts.Count);
        Assert.All(rtts, r => Assert.True(r > TimeSpan.Zero));
    }

    [Theory]
    [InlineData(new string[0], new[] { "/yamux/1.0.0" })] // the dialer does not announce: multistream-select picks Yamux
    [InlineData(new[] { "/yamux/1.0.0" }, new string[0])] // the listener does not announce
    [InlineData(new[] { "/yamux/1.0.0" }, new[] { "/yamux/1.0.0" })] // both announce: chosen in the handshake, no multistream round
    [InlineData(new[] { "/mplex/6.7.0", "/yamux/1.0.0" }, new[] { "/yamux/1.0.0" })] // the first of the dialer's list that both support
    [InlineData(new[] { "/yamux/1.0.0" }, new[] { "/mplex/6.7.0", "/yamux/1.0.0" })]
    public async Task InlinedMuxerNegotiation_AgreesOnYamux_OrFallsBackToMultistream(string[] dialerMuxers, string[] listenerMuxers)
    {
        await using var hosts = await StartAsync(2, (i, options) =>
        {
            options.Noise.StreamMuxers.Clear();
            foreach (var muxer in i == 0 ? dialerMuxers : listenerMuxers)
            {
                options.Noise.StreamMuxers.Add(muxer);
            }
        });
        var connection = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        await foreach (var _ in PingProtocol.PingAsync(connection, 2).WithCancellation(new CancellationTokenSource(Timeout).Token))
        {
        }
        Assert.Single(hosts[1].Connections);
    }

    [Theory]
    [InlineData(new[] { "/mplex/6.7.0" }, new[] { "/yamux/1.0.0" })]
    [InlineData(new[] { "/yamux/1.0.0" }, new[] { "/mplex/6.7.0" })]
    [InlineData(new[] { "/mplex/6.7.0" }, new[] { "/mplex/6.7.0" })] // agreed, but not a muxer the host has
    public async Task InlinedMuxerNegotiation_WithoutAUsableCommonMuxer_FailsTheDialClearly(string[] dialerMuxers, string[] listenerMuxers)
    {
        await using var hosts = await StartAsync(2, (i, options) =>
        {
            options.Noise.StreamMuxers.Clear();
            foreach (var muxer in i == 0 ? dialerMuxers : listenerMuxers)
            {
                options.Noise.StreamMuxers.Add(muxer);
            }
        });
        var error = await Assert.ThrowsAsync<NoiseHandshakeException>(() => hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout));
        Assert.Matches("No common stream muxer|is not supported", error.ToString());
        Assert.Empty(hosts[0].Connections);
    }

    [Fact]
    public async Task Dial_WithWrongPeerId_IsRefused()
    {
        await using var hosts = await StartAsync(2);
        using var stranger = PrivateKey.GenerateEd25519();
        var wrong = hosts[1].ListenAddresses[0].WithPeerId(stranger.PublicKey.ToPeerId());
        var error = await Assert.ThrowsAsync<NoiseHandshakeException>(() => hosts[0].DialAsync(wrong).AsTask().WaitAsync(Timeout));
        Assert.Contains(stranger.PublicKey.ToPeerId().ToString(), error.Message, StringComparison.Ordinal);
        Assert.Empty(hosts[0].Connections);
        // The listener keeps serving everyone else.
        var ok = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        Assert.Equal(hosts[1].PeerId, ok.RemotePeer);
    }

    [Fact]
    public async Task Dial_SamePeerTwice_ReusesTheConnection()
    {
        await using var hosts = await StartAsync(2);
        var first = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        var second = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        Assert.Same(first, second);
        Assert.Single(hosts[0].Connections);
    }

    [Fact]
    public async Task DialByPeerId_AfterDisconnect_UsesAddressLearntEarlier()
    {
        await using var hosts = await StartAsync(2);
        var first = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        await first.DisposeAsync().AsTask().WaitAsync(Timeout);
        var again = await hosts[0].DialAsync(hosts[1].PeerId).AsTask().WaitAsync(Timeout);
        Assert.NotSame(first, again);
        Assert.Equal(hosts[1].PeerId, again.RemotePeer);
    }

    [Fact]
    public async Task DialByPeerId_WithNoKnownAddress_FailsClearly()
    {
        await using var hosts = await StartAsync(1);
        using var stranger = PrivateKey.GenerateEd25519();
        var error = await Assert.ThrowsAsync<PeerNotFoundException>(() => hosts[0].DialAsync(stranger.PublicKey.ToPeerId()).AsTask().WaitAsync(Timeout));
        Assert.Contains("No address is known", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dial_UnreachableAddress_ThrowsIOException()
    {
        await using var hosts = await StartAsync(1);
        int port = FreePort();
        await Assert.ThrowsAsync<IOException>(() => hosts[0].DialAsync(Multiaddr.Parse($"/ip4/127.0.0.1/tcp/{port}")).AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task Listen_RaisesLocalAddressesUpdated()
    {
        await using var hosts = await StartAsync(1);
        var updated = NewSignal<LocalAddressesUpdated>(hosts[0]);
        var bound = await hosts[0].ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")).AsTask().WaitAsync(Timeout);
        var e = await updated.WaitAsync(Timeout);
        Assert.Equal(bound, e.Added);
        Assert.Equal(2, e.Current.Count);
    }

    [Fact]
    public async Task Listen_OnUnsupportedAddress_ThrowsNotSupported()
    {
        await using var hosts = await StartAsync(1);
        await Assert.ThrowsAsync<NotSupportedException>(() => hosts[0].ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/udp/0/quic-v1")).AsTask());
    }
}
