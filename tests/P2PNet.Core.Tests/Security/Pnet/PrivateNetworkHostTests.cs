using Xunit.Abstractions;
using System.Diagnostics;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Protocols.Ping;
using P2PNet.Security.Pnet;
using P2PNet.Testing;

namespace P2PNet.Core.Tests.Pnet;

/// <summary>Hosts behind PSK v1: who can connect, how fast the others fail, and key choice during a rotation.</summary>
public sealed class PrivateNetworkHostTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    /// <summary>A refused dial must end well before this (the hosts' handshake timeout is 5 s).</summary>
    private static readonly TimeSpan FailFast = TimeSpan.FromSeconds(10);

    private async Task<P2PHost> StartHostAsync(SwarmKey? key, params SwarmKey[] alsoAccepted)
    {
        var options = new P2PHostOptions { PrivateNetworkKey = key, HandshakeTimeout = TimeSpan.FromSeconds(5) };
        foreach (var extra in alsoAccepted)
        {
            options.AcceptedPrivateNetworkKeys.Add(extra);
        }
        options.ListenAddresses.Add(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
        var host = new P2PHost(options, XunitLoggerProvider.CreateFactory(output));
        await host.StartAsync().AsTask().WaitAsync(Timeout);
        return host;
    }

    private static async Task PingOnceAsync(P2PConnection connection)
    {
        using var cts = new CancellationTokenSource(Timeout);
        int count = 0;
        await foreach (var _ in PingProtocol.PingAsync(connection, 1).WithCancellation(cts.Token))
        {
            count++;
        }
        Assert.Equal(1, count);
    }

    private static async Task AssertRefusedFastAsync(P2PHost dialer, Multiaddr target)
    {
        var watch = Stopwatch.StartNew();
        // Refused: garbage after the PSK (ProtocolViolationException) or a closed connection (IOException), never a timeout.
        await Assert.ThrowsAnyAsync<IOException>(() => dialer.DialAsync(target).AsTask().WaitAsync(Timeout));
        Assert.True(watch.Elapsed < FailFast, $"the refused dial took {watch.Elapsed}");
    }

    [Fact]
    public async Task AConnectionWhoseHandshakeEndsAfterTheHostChangedNetworks_IsRefused_AndTheListenerServesTheNewNetwork()
    {
        var key = SwarmKey.Generate();
        P2PHost? switching = null;
        // The gater runs after the handshake and before the connection is admitted: the host joins a private network
        // right there, as a swarm join can while a public connection is still in its handshake.
        var gater = new SwitchingGater(() => switching!.SetPrivateNetworkKeys(key));
        var options = new P2PHostOptions { ConnectionGater = gater, HandshakeTimeout = TimeSpan.FromSeconds(5) };
        options.ListenAddresses.Add(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
        await using var b = new P2PHost(options, XunitLoggerProvider.CreateFactory(output));
        switching = b;
        await b.StartAsync().AsTask().WaitAsync(Timeout);
        var address = b.ListenAddresses[0];
        await using var publicDialer = await StartHostAsync(null);
        await using var privateDialer = await StartHostAsync(key);

        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            var connection = await publicDialer.DialAsync(address).AsTask().WaitAsync(Timeout);
            await PingOnceAsync(connection); // the listener closed it, if the dial returned before it did
        });
        await Conditions.WaitUntilAsync(() => b.Connections.Count == 0, Timeout, "the refused connection is gone");
        Assert.Equal(1, gater.Calls);

        // The same listener, never reopened, now takes the private network only.
        await PingOnceAsync(await privateDialer.DialAsync(address).AsTask().WaitAsync(Timeout));
        await AssertRefusedFastAsync(publicDialer, address);
    }

    private sealed class SwitchingGater(Action onFirstSecured) : IConnectionGater
    {
        private int _calls;

        public int Calls => _calls;

        public bool AllowSecured(ConnectionDirection direction, P2PNet.Peers.PeerId peer, Multiaddr remoteAddress)
        {
            if (Interlocked.Increment(ref _calls) == 1)
            {
                onFirstSecured();
            }
            return true;
        }
    }

    [Fact]
    public async Task Dial_WithSameKey_ConnectsAndPings()
    {
        var key = SwarmKey.Generate();
        await using var a = await StartHostAsync(key);
        await using var b = await StartHostAsync(key);
        var connection = await a.DialAsync(b.ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        Assert.Equal(key, connection.PrivateNetworkKey);
        await PingOnceAsync(connection);
    }

    [Fact]
    public async Task Dial_WithDifferentKey_FailsFastAndListenerKeepsServing()
    {
        var key = SwarmKey.Generate();
        await using var listener = await StartHostAsync(key);
        await using var stranger = await StartHostAsync(SwarmKey.Generate());
        await AssertRefusedFastAsync(stranger, listener.ListenAddresses[0]);
        Assert.Empty(listener.Connections);

        await using var member = await StartHostAsync(key);
        await PingOnceAsync(await member.DialAsync(listener.ListenAddresses[0]).AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task Dial_WithoutKey_ToPrivateListener_FailsFastAndListenerKeepsServing()
    {
        var key = SwarmKey.Generate();
        await using var listener = await StartHostAsync(key);
        await using var outsider = await StartHostAsync(null);
        await AssertRefusedFastAsync(outsider, listener.ListenAddresses[0]);

        await using var member = await StartHostAsync(key);
        await PingOnceAsync(await member.DialAsync(listener.ListenAddresses[0]).AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task Dial_WithKey_ToPublicListener_FailsFast()
    {
        await using var listener = await StartHostAsync(null);
        await using var member = await StartHostAsync(SwarmKey.Generate());
        await AssertRefusedFastAsync(member, listener.ListenAddresses[0]);

        await using var publicPeer = await StartHostAsync(null);
        await PingOnceAsync(await publicPeer.DialAsync(listener.ListenAddresses[0]).AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task Rotation_ListenerAcceptingOldAndNew_ChoosesEachDialersKey()
    {
        var oldKey = SwarmKey.Generate();
        var newKey = SwarmKey.Generate();
        await using var listener = await StartHostAsync(newKey, oldKey);
        await using var oldDialer = await StartHostAsync(oldKey);
        await using var newDialer = await StartHostAsync(newKey);

        var viaOld = await oldDialer.DialAsync(listener.ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        var viaNew = await newDialer.DialAsync(listener.ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        Assert.Equal(oldKey, viaOld.PrivateNetworkKey);
        Assert.Equal(newKey, viaNew.PrivateNetworkKey);
        await PingOnceAsync(viaOld);
        await PingOnceAsync(viaNew);
        Assert.Contains(listener.Connections, c => c.RemotePeer == oldDialer.PeerId && oldKey.Equals(c.PrivateNetworkKey));
        Assert.Contains(listener.Connections, c => c.RemotePeer == newDialer.PeerId && newKey.Equals(c.PrivateNetworkKey));

        // The grace period ends: only the new key from now on; open connections stay until closed.
        listener.SetPrivateNetworkKeys(newKey);
        Assert.Equal((newKey, (IReadOnlyList<SwarmKey>)[]), (listener.PrivateNetworkKeys.Key, listener.PrivateNetworkKeys.AlsoAccepted));
        await oldDialer.DisconnectAsync(listener.PeerId).AsTask().WaitAsync(Timeout);
        await AssertRefusedFastAsync(oldDialer, listener.ListenAddresses[0]);

        await using var lateNewDialer = await StartHostAsync(newKey);
        await PingOnceAsync(await lateNewDialer.DialAsync(listener.ListenAddresses[0]).AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task SetPrivateNetworkKeys_OnDialer_AppliesToNextDial()
    {
        var oldKey = SwarmKey.Generate();
        var newKey = SwarmKey.Generate();
        await using var listener = await StartHostAsync(newKey);
        await using var dialer = await StartHostAsync(oldKey);
        await AssertRefusedFastAsync(dialer, listener.ListenAddresses[0]);
        dialer.SetPrivateNetworkKeys(newKey);
        var connection = await dialer.DialAsync(listener.ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        Assert.Equal(newKey, connection.PrivateNetworkKey);
        await PingOnceAsync(connection);
    }

    [Fact]
    public void SetPrivateNetworkKeys_AcceptedWithoutPrimary_Throws()
    {
        var host = new P2PHost();
        Assert.Throws<ArgumentException>(() => host.SetPrivateNetworkKeys(null, [SwarmKey.Generate()]));
    }
}
