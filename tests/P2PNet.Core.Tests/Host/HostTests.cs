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

public sealed class HostTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private Task<InProcessSwarm> StartAsync(int count, Action<int, P2PHostOptions>? configure = null) =>
        InProcessSwarm.StartAsync(count, configure, XunitLoggerProvider.CreateFactory(output)).WaitAsync(Timeout);

    [Fact]
    public async Task ListenAddresses_EndWithOwnPeerId_AndUseTheBoundPort()
    {
        await using var swarm = await StartAsync(1);
        var address = Assert.Single(swarm[0].ListenAddresses);
        Assert.Equal(swarm[0].PeerId, address.GetPeerId());
        Assert.True(address.TryGetTcpEndPoint(out var endPoint));
        Assert.NotEqual(0, endPoint.Port);
    }

    [Fact]
    public async Task Dial_ThenPing_ReturnsRoundTripTimes()
    {
        await using var swarm = await StartAsync(2);
        var connection = await swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        Assert.Equal(swarm[1].PeerId, connection.RemotePeer);
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
        await using var swarm = await StartAsync(2, (i, options) =>
        {
            options.Noise.StreamMuxers.Clear();
            foreach (var muxer in i == 0 ? dialerMuxers : listenerMuxers)
            {
                options.Noise.StreamMuxers.Add(muxer);
            }
        });
        var connection = await swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        await foreach (var _ in PingProtocol.PingAsync(connection, 2).WithCancellation(new CancellationTokenSource(Timeout).Token))
        {
        }
        Assert.Single(swarm[1].Connections);
    }

    [Theory]
    [InlineData(new[] { "/mplex/6.7.0" }, new[] { "/yamux/1.0.0" })]
    [InlineData(new[] { "/yamux/1.0.0" }, new[] { "/mplex/6.7.0" })]
    [InlineData(new[] { "/mplex/6.7.0" }, new[] { "/mplex/6.7.0" })] // agreed, but not a muxer the host has
    public async Task InlinedMuxerNegotiation_WithoutAUsableCommonMuxer_FailsTheDialClearly(string[] dialerMuxers, string[] listenerMuxers)
    {
        await using var swarm = await StartAsync(2, (i, options) =>
        {
            options.Noise.StreamMuxers.Clear();
            foreach (var muxer in i == 0 ? dialerMuxers : listenerMuxers)
            {
                options.Noise.StreamMuxers.Add(muxer);
            }
        });
        var error = await Assert.ThrowsAsync<NoiseHandshakeException>(() => swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout));
        Assert.Matches("No common stream muxer|is not supported", error.ToString());
        Assert.Empty(swarm[0].Connections);
    }

    [Fact]
    public async Task Dial_WithWrongPeerId_IsRefused()
    {
        await using var swarm = await StartAsync(2);
        using var stranger = PrivateKey.GenerateEd25519();
        var wrong = swarm[1].ListenAddresses[0].WithPeerId(stranger.PublicKey.ToPeerId());
        var error = await Assert.ThrowsAsync<NoiseHandshakeException>(() => swarm[0].DialAsync(wrong).AsTask().WaitAsync(Timeout));
        Assert.Contains(stranger.PublicKey.ToPeerId().ToString(), error.Message, StringComparison.Ordinal);
        Assert.Empty(swarm[0].Connections);
        // The listener keeps serving everyone else.
        var ok = await swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        Assert.Equal(swarm[1].PeerId, ok.RemotePeer);
    }

    [Fact]
    public async Task Dial_SamePeerTwice_ReusesTheConnection()
    {
        await using var swarm = await StartAsync(2);
        var first = await swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        var second = await swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        Assert.Same(first, second);
        Assert.Single(swarm[0].Connections);
    }

    [Fact]
    public async Task DialByPeerId_AfterDisconnect_UsesAddressLearntEarlier()
    {
        await using var swarm = await StartAsync(2);
        var first = await swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        await first.DisposeAsync().AsTask().WaitAsync(Timeout);
        var again = await swarm[0].DialAsync(swarm[1].PeerId).AsTask().WaitAsync(Timeout);
        Assert.NotSame(first, again);
        Assert.Equal(swarm[1].PeerId, again.RemotePeer);
    }

    [Fact]
    public async Task DialByPeerId_WithNoKnownAddress_FailsClearly()
    {
        await using var swarm = await StartAsync(1);
        using var stranger = PrivateKey.GenerateEd25519();
        var error = await Assert.ThrowsAsync<IOException>(() => swarm[0].DialAsync(stranger.PublicKey.ToPeerId()).AsTask().WaitAsync(Timeout));
        Assert.Contains("No address is known", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dial_UnreachableAddress_ThrowsIOException()
    {
        await using var swarm = await StartAsync(1);
        int port = FreePort();
        await Assert.ThrowsAsync<IOException>(() => swarm[0].DialAsync(Multiaddr.Parse($"/ip4/127.0.0.1/tcp/{port}")).AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task Identify_BothSidesLearnAgentProtocolsAndAddresses()
    {
        await using var swarm = await StartAsync(2);
        var identified = new[] { NewSignal<PeerIdentificationCompleted>(swarm[0]), NewSignal<PeerIdentificationCompleted>(swarm[1]) };
        await swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        var seenBy0 = await identified[0].WaitAsync(Timeout);
        var seenBy1 = await identified[1].WaitAsync(Timeout);

        Assert.Equal(swarm[1].PeerId, seenBy0.Peer);
        Assert.Equal("p2pnet-test/1", seenBy0.Record.AgentVersion);
        Assert.Equal("ipfs/0.1.0", seenBy0.Record.ProtocolVersion);
        Assert.Contains(PingProtocol.Id, seenBy0.Record.Protocols);
        Assert.Contains("/ipfs/id/1.0.0", seenBy0.Record.Protocols);
        Assert.Equal(swarm[1].ListenAddresses[0].WithoutPeerId(), Assert.Single(seenBy0.Record.Addresses));
        Assert.Equal(swarm[1].PublicKey, seenBy0.Record.PublicKey);

        Assert.Equal(swarm[0].PeerId, seenBy1.Peer);
        Assert.Equal("p2pnet-test/0", seenBy1.Record.AgentVersion);
        Assert.NotNull(seenBy1.Record.ObservedAddress);
    }

    [Fact]
    public async Task IdentifyPush_WhenAProtocolIsAdded_ConnectedPeersLearnIt()
    {
        await using var swarm = await StartAsync(2);
        var identified = NewSignal<PeerIdentificationCompleted>(swarm[0]);
        await swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        await identified.WaitAsync(Timeout);

        var pushed = NewSignal<PeerIdentificationCompleted>(swarm[0], e => e.Record.Protocols.Contains("/app/new/1.0.0"));
        swarm[1].SetStreamHandler("/app/new/1.0.0", (s, ct) => Task.CompletedTask);
        var record = await pushed.WaitAsync(Timeout);
        Assert.Contains("/app/new/1.0.0", record.Record.Protocols);
    }

    [Fact]
    public async Task OpenStream_UnknownProtocol_ThrowsProtocolNotSupported_AndConnectionKeepsWorking()
    {
        await using var swarm = await StartAsync(2);
        var connection = await swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        // One protocol is proposed optimistically: the refusal surfaces on the first read (see OptimisticStreamTests).
        await Assert.ThrowsAsync<ProtocolNotSupportedException>(async () =>
        {
            await using var stream = await connection.OpenStreamAsync("/nobody/serves/this").AsTask().WaitAsync(Timeout);
            await stream.ReadAsync(new byte[1]).AsTask().WaitAsync(Timeout);
        });
        await foreach (var _ in PingProtocol.PingAsync(connection, 1).WithCancellation(new CancellationTokenSource(Timeout).Token))
        {
        }
    }

    [Fact]
    public async Task OpenStream_SecondChoiceProtocol_IsNegotiated()
    {
        await using var swarm = await StartAsync(2);
        swarm[1].SetStreamHandler("/app/v1", EchoProtocol.HandleAsync);
        var connection = await swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        await using var stream = await connection.OpenStreamAsync(["/app/v2", "/app/v1"]).AsTask().WaitAsync(Timeout);
        Assert.Equal("/app/v1", stream.Protocol);
    }

    [Fact]
    public async Task Echo_OfSixteenMebibytes_ComesBackIdentical()
    {
        await using var swarm = await StartAsync(2);
        swarm[1].SetStreamHandler(EchoProtocol.Id, EchoProtocol.HandleAsync);
        var connection = await swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        byte[] payload = RandomNumberGenerator.GetBytes(16 * 1024 * 1024);
        byte[] echoed = await EchoClient.EchoAsync(connection, payload).WaitAsync(Timeout);
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(echoed));
    }

    [Fact]
    public async Task HundredConcurrentStreams_AllEchoTheirOwnData()
    {
        await using var swarm = await StartAsync(2);
        swarm[1].SetStreamHandler(EchoProtocol.Id, EchoProtocol.HandleAsync);
        var connection = await swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        var payloads = Enumerable.Range(0, 100).Select(_ => RandomNumberGenerator.GetBytes(32 * 1024)).ToArray();
        var echoed = await Task.WhenAll(payloads.Select(p => EchoClient.EchoAsync(connection, p))).WaitAsync(Timeout);
        for (int i = 0; i < payloads.Length; i++)
        {
            Assert.Equal(payloads[i], echoed[i]);
        }
    }

    [Fact]
    public async Task Perf_UploadsAndDownloadsTheRequestedBytes()
    {
        await using var swarm = await StartAsync(2, (i, o) => o.EnablePerf = true);
        var connection = await swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        var result = await PerfProtocol.RunAsync(connection, 8 * 1024 * 1024, 16 * 1024 * 1024).WaitAsync(Timeout);
        Assert.Equal(8 * 1024 * 1024, result.UploadBytes);
        Assert.Equal(16 * 1024 * 1024, result.DownloadBytes);
    }

    [Fact]
    public async Task Perf_IsNotServedUnlessEnabled()
    {
        await using var swarm = await StartAsync(2);
        var connection = await swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        await Assert.ThrowsAsync<ProtocolNotSupportedException>(() => PerfProtocol.RunAsync(connection, 1, 1).WaitAsync(Timeout));
    }

    [Fact]
    public async Task Connectedness_IsRaisedOnConnectAndOnClose_OnBothSides()
    {
        await using var swarm = await StartAsync(2);
        var connected = new[] { NewSignal<PeerConnectednessChanged>(swarm[0], e => e.Connectedness == Connectedness.Connected), NewSignal<PeerConnectednessChanged>(swarm[1], e => e.Connectedness == Connectedness.Connected) };
        var disconnected = new[] { NewSignal<PeerConnectednessChanged>(swarm[0], e => e.Connectedness == Connectedness.NotConnected), NewSignal<PeerConnectednessChanged>(swarm[1], e => e.Connectedness == Connectedness.NotConnected) };
        var connection = await swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        Assert.Equal(swarm[1].PeerId, (await connected[0].WaitAsync(Timeout)).Peer);
        Assert.Equal(swarm[0].PeerId, (await connected[1].WaitAsync(Timeout)).Peer);
        await connection.DisposeAsync().AsTask().WaitAsync(Timeout);
        Assert.Equal(swarm[1].PeerId, (await disconnected[0].WaitAsync(Timeout)).Peer);
        Assert.Equal(swarm[0].PeerId, (await disconnected[1].WaitAsync(Timeout)).Peer);
        Assert.Empty(swarm[1].Connections);
    }

    [Fact]
    public async Task Listen_RaisesLocalAddressesUpdated()
    {
        await using var swarm = await StartAsync(1);
        var updated = NewSignal<LocalAddressesUpdated>(swarm[0]);
        var bound = await swarm[0].ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")).AsTask().WaitAsync(Timeout);
        var e = await updated.WaitAsync(Timeout);
        Assert.Equal(bound, e.Added);
        Assert.Equal(2, e.Current.Count);
    }

    [Fact]
    public async Task Listen_OnUnsupportedAddress_ThrowsNotSupported()
    {
        await using var swarm = await StartAsync(1);
        await Assert.ThrowsAsync<NotSupportedException>(() => swarm[0].ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/udp/0/quic-v1")).AsTask());
    }

    [Fact]
    public async Task Stop_ClosesEveryConnection_AndTheRemoteSeesIt()
    {
        var swarm = await StartAsync(2);
        await using (swarm)
        {
            var disconnected = NewSignal<PeerConnectednessChanged>(swarm[1], e => e.Connectedness == Connectedness.NotConnected);
            await swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
            await swarm[0].StopAsync().AsTask().WaitAsync(Timeout);
            Assert.Empty(swarm[0].Connections);
            await disconnected.WaitAsync(Timeout);
            await Assert.ThrowsAsync<ObjectDisposedException>(() => swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask());
        }
    }

    [Fact]
    public async Task GarbageBeforeMultistream_ClosesOnlyThatConnection()
    {
        await using var swarm = await StartAsync(2);
        Assert.True(swarm[1].ListenAddresses[0].TryGetTcpEndPoint(out var endPoint));
        using (var client = new TcpClient())
        {
            await client.ConnectAsync(endPoint).WaitAsync(Timeout);
            var stream = client.GetStream();
            await stream.WriteAsync(RandomNumberGenerator.GetBytes(4096)).AsTask().WaitAsync(Timeout);
            // The host closes the connection at once: the read ends (0 bytes or a reset) well before the handshake
            // timeout would have dropped us anyway, so a host that ignored the garbage fails here.
            Assert.True(await ReadUntilClosedAsync(stream).WaitAsync(new P2PHostOptions().HandshakeTimeout * 2 / 3));
        }
        var ok = await swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        Assert.Equal(swarm[1].PeerId, ok.RemotePeer);
    }

    [Fact]
    public async Task SilentClient_IsDroppedAfterTheConfiguredHandshakeTimeout_NotTheDefault()
    {
        var configured = TimeSpan.FromMilliseconds(500);
        var defaultTimeout = new P2PHostOptions().HandshakeTimeout;
        Assert.True(defaultTimeout >= TimeSpan.FromSeconds(10), "the test tells the two limits apart by a wide margin");
        await using var swarm = await StartAsync(1, (i, o) => o.HandshakeTimeout = configured);
        Assert.True(swarm[0].ListenAddresses[0].TryGetTcpEndPoint(out var endPoint));
        using var client = new TcpClient();
        await client.ConnectAsync(endPoint).WaitAsync(Timeout);
        var connected = Stopwatch.StartNew();

        // The host sends its multistream header, then gives up on us and closes: a read returns 0 or fails with a reset.
        // The wait is bounded well below the default limit, so a host that ignored the configured one fails here.
        var dropped = await ReadUntilClosedAsync(client.GetStream()).WaitAsync(defaultTimeout * 2 / 3);

        Assert.True(dropped, "the connection was not closed");
        Assert.True(connected.Elapsed >= configured / 2, $"dropped after {connected.Elapsed}, before the {configured} limit");
    }

    /// <summary>Reads until the remote closes: true on a clean end or a reset.</summary>
    private static async Task<bool> ReadUntilClosedAsync(Stream stream)
    {
        var buffer = new byte[1024];
        try
        {
            while (await stream.ReadAsync(buffer).ConfigureAwait(false) > 0)
            {
            }
        }
        catch (IOException)
        {
        }
        return true;
    }

    [Fact]
    public async Task MaxConnections_RefusesInboundBeyondTheLimit()
    {
        await using var swarm = await StartAsync(3, (i, o) => o.MaxConnections = i == 2 ? 1 : 1024);
        await swarm[0].DialAsync(swarm[2].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        await WaitForConnectionCountAsync(swarm[2], 1); // the dialer can finish its side of the handshake first
        await Assert.ThrowsAnyAsync<IOException>(() => swarm[1].DialAsync(swarm[2].ListenAddresses[0]).AsTask().WaitAsync(Timeout));
        Assert.Single(swarm[2].Connections);
    }

    /// <summary>Waits until <paramref name="host"/> has registered <paramref name="count"/> connections (fails after <see cref="Timeout"/>).</summary>
    private static async Task WaitForConnectionCountAsync(P2PHost host, int count)
    {
        using var deadline = new CancellationTokenSource(Timeout);
        while (host.Connections.Count != count)
        {
            await Task.Delay(20, deadline.Token);
        }
    }

    [Fact]
    public async Task MaxConnections_HoldsUnderABurstOfConcurrentInboundDials()
    {
        // Connections still in their handshake count against the limit: a burst cannot all pass the check at once.
        await using var swarm = await StartAsync(7, (i, o) => o.MaxConnections = i == 6 ? 2 : 1024);
        var dials = Enumerable.Range(0, 6).Select(i => swarm[i].DialAsync(swarm[6].ListenAddresses[0]).AsTask().WaitAsync(Timeout)).ToArray();
        try
        {
            await Task.WhenAll(dials);
        }
        catch (Exception)
        {
            // refusals are expected
        }
        // A refused dial fails at the dialer (the listener drops it before multistream), so successes are the connections.
        int succeeded = dials.Count(d => d.IsCompletedSuccessfully);
        Assert.InRange(succeeded, 1, 2);
        await WaitForConnectionCountAsync(swarm[6], succeeded); // the listener registers each as its side of the handshake ends
    }

    [Fact]
    public async Task IdleConnection_IsClosedAfterTheIdleTimeout()
    {
        await using var swarm = await StartAsync(2, (i, o) => o.IdleTimeout = i == 0 ? TimeSpan.FromMilliseconds(600) : TimeSpan.Zero);
        var closed = NewSignal<PeerConnectednessChanged>(swarm[0], e => e.Connectedness == Connectedness.NotConnected);
        await swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        await closed.WaitAsync(Timeout);
        Assert.Empty(swarm[0].Connections);
    }

    [Fact]
    public async Task StreamHandler_ThatThrows_ResetsOnlyItsStream()
    {
        await using var swarm = await StartAsync(2);
        swarm[1].SetStreamHandler("/app/broken", (s, ct) => throw new InvalidOperationException("handler bug"));
        var connection = await swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        // The reset may arrive while we still negotiate or once we read: either way it is an IOException on this stream only.
        var error = await Assert.ThrowsAnyAsync<IOException>(async () =>
        {
            await using var stream = await connection.OpenStreamAsync("/app/broken").AsTask().WaitAsync(Timeout);
            var buffer = new byte[16];
            await stream.WriteAsync(buffer).AsTask().WaitAsync(Timeout);
            while (await stream.ReadAsync(buffer).AsTask().WaitAsync(Timeout) > 0)
            {
            }
        });
        Assert.IsType<StreamResetException>(error);
        await foreach (var _ in PingProtocol.PingAsync(connection, 1).WithCancellation(new CancellationTokenSource(Timeout).Token))
        {
        }
    }

    [Fact]
    public async Task Network_ConfigInitDialListenStatusStop_Works()
    {
        await using var a = new Libp2pNetwork(XunitLoggerProvider.CreateFactory(output));
        await using var b = new Libp2pNetwork(XunitLoggerProvider.CreateFactory(output));
        var identified = new TaskCompletionSource<PeerIdentificationCompleted>(TaskCreationOptions.RunContinuationsAsynchronously);
        a.EventRegister<PeerIdentificationCompleted>(e => identified.TrySetResult(e)); // before Init
        foreach (var network in new[] { a, b })
        {
            var config = new NetworkConfig();
            config.Host.ListenAddresses.Add(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
            network.Config(config);
            await network.InitAsync().AsTask().WaitAsync(Timeout);
        }
        Assert.Throws<InvalidOperationException>(() => a.Config(new NetworkConfig()));
        var extra = await b.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")).AsTask().WaitAsync(Timeout);
        await a.DialAsync(extra[0]).AsTask().WaitAsync(Timeout);
        await identified.Task.WaitAsync(Timeout);

        var status = a.Status();
        Assert.True(status.IsRunning);
        Assert.Equal(a.Host.PeerId, status.PeerId);
        var peer = Assert.Single(status.Peers);
        Assert.Equal(b.Host.PeerId, peer.PeerId);
        Assert.Contains(PingProtocol.Id, peer.Protocols);
        Assert.Equal(1, status.ConnectionCount);
        Assert.Equal(2, b.Status().ListenAddresses.Count);

        await a.StopAsync().AsTask().WaitAsync(Timeout);
        Assert.False(a.Status().IsRunning);
        Assert.Equal(0, a.Status().ConnectionCount);
    }

    [Fact]
    public async Task Messenger_DeliversTypedMessages_BothWays()
    {
        await using var a = await StartNetworkAsync();
        await using var b = await StartNetworkAsync();
        await a.DialAsync(b.Status().ListenAddresses[0]).AsTask().WaitAsync(Timeout);

        var atB = b.Messenger.ReceiveAsync<StringValue>().AsTask();
        await a.Messenger.SendAsync(b.Host.PeerId, new StringValue { Value = "to b" }).AsTask().WaitAsync(Timeout);
        var (from, message) = await atB.WaitAsync(Timeout);
        Assert.Equal(a.Host.PeerId, from);
        Assert.Equal("to b", message.Value);

        var received = new List<long>();
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = a.Messenger.Subscribe<Int64Value>((peer, m, _) =>
        {
            lock (received)
            {
                received.Add(m.Value);
                if (received.Count == 50)
                {
                    all.TrySetResult();
                }
            }
            return ValueTask.CompletedTask;
        });
        for (int i = 0; i < 50; i++)
        {
            await b.Messenger.SendAsync(a.Host.PeerId, new Int64Value { Value = i }).AsTask().WaitAsync(Timeout);
        }
        await all.Task.WaitAsync(Timeout);
        Assert.Equal(Enumerable.Range(0, 50).Select(i => (long)i), received);
    }

    private async Task<Libp2pNetwork> StartNetworkAsync()
    {
        var network = new Libp2pNetwork(XunitLoggerProvider.CreateFactory(output));
        var config = new NetworkConfig();
        config.Host.ListenAddresses.Add(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
        network.Config(config);
        await network.InitAsync().AsTask().WaitAsync(Timeout);
        return network;
    }

    private static Task<T> NewSignal<T>(P2PHost host, Func<T, bool>? predicate = null) where T : HostEvent
    {
        var signal = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        host.Events.Subscribe<T>(e =>
        {
            if (predicate is null || predicate(e))
            {
                signal.TrySetResult(e);
            }
        });
        return signal.Task;
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
