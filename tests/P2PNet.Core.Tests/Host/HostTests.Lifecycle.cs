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

/// <summary>Connection events and the end of connections: connectedness, stop, idle timeout.</summary>
public sealed partial class HostTests
{
    [Fact]
    public async Task Connectedness_IsRaisedOnConnectAndOnClose_OnBothSides()
    {
        await using var hosts = await StartAsync(2);
        var connected = new[] { NewSignal<PeerConnectednessChanged>(hosts[0], e => e.Connectedness == Connectedness.Connected), NewSignal<PeerConnectednessChanged>(hosts[1], e => e.Connectedness == Connectedness.Connected) };
        var disconnected = new[] { NewSignal<PeerConnectednessChanged>(hosts[0], e => e.Connectedness == Connectedness.NotConnected), NewSignal<PeerConnectednessChanged>(hosts[1], e => e.Connectedness == Connectedness.NotConnected) };
        var connection = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        Assert.Equal(hosts[1].PeerId, (await connected[0].WaitAsync(Timeout)).Peer);
        Assert.Equal(hosts[0].PeerId, (await connected[1].WaitAsync(Timeout)).Peer);
        await connection.DisposeAsync().AsTask().WaitAsync(Timeout);
        Assert.Equal(hosts[1].PeerId, (await disconnected[0].WaitAsync(Timeout)).Peer);
        Assert.Equal(hosts[0].PeerId, (await disconnected[1].WaitAsync(Timeout)).Peer);
        Assert.Empty(hosts[1].Connections);
    }

    [Fact]
    public async Task Stop_ClosesEveryConnection_AndTheRemoteSeesIt()
    {
        var hosts = await StartAsync(2);
        await using (hosts)
        {
            var disconnected = NewSignal<PeerConnectednessChanged>(hosts[1], e => e.Connectedness == Connectedness.NotConnected);
            await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
            await hosts[0].StopAsync().AsTask().WaitAsync(Timeout);
            Assert.Empty(hosts[0].Connections);
            await disconnected.WaitAsync(Timeout);
            await Assert.ThrowsAsync<ObjectDisposedException>(() => hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask());
        }
    }

    [Fact]
    public async Task IdleConnection_IsClosedAfterTheIdleTimeout()
    {
        await using var hosts = await StartAsync(2, (i, o) => o.IdleTimeout = i == 0 ? TimeSpan.FromMilliseconds(600) : TimeSpan.Zero);
        var closed = NewSignal<PeerConnectednessChanged>(hosts[0], e => e.Connectedness == Connectedness.NotConnected);
        await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        await closed.WaitAsync(Timeout);
        Assert.Empty(hosts[0].Connections);
    }
}
