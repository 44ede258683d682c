using System.IO.Pipelines;
using P2PNet.Core.Tests.Multistream;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Muxing.Yamux;
using P2PNet.Peers;
using P2PNet.Protocols.Ping;
using P2PNet.Security.Noise;
using P2PNet.Testing;
using P2PNet.Upgrade;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.Conformance.Upgrade;

/// <summary>
/// <see cref="P2PHostOptions.SecurityProtocols"/> and <see cref="P2PHostOptions.Muxers"/> are what the host runs:
/// a protocol added there is negotiated (preferred in list order) and one the peer lacks falls back to the next.
/// </summary>
public sealed class PluggableUpgradeTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TestPipes.Timeout;
    private const string RenamedNoise = "/renamed-noise";
    private const string RenamedYamux = "/renamed-yamux/1.0.0";

    private async Task<P2PHost> StartAsync(Action<P2PHostOptions> configure, bool listen)
    {
        var options = new P2PHostOptions();
        configure(options);
        var host = new P2PHost(options, XunitLoggerProvider.CreateFactory(output));
        await host.StartAsync().AsTask().WaitAsync(Timeout);
        if (listen)
        {
            await host.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")).AsTask().WaitAsync(Timeout);
        }
        return host;
    }

    private static async Task<P2PConnection> ConnectAndPingAsync(P2PHost dialer, P2PHost listener)
    {
        var connection = await dialer.DialAsync(listener.ListenAddresses[0].WithPeerId(listener.PeerId)).AsTask().WaitAsync(Timeout);
        await foreach (var _ in PingProtocol.PingAsync(connection, 1).WithCancellation(new CancellationTokenSource(Timeout).Token))
        {
        }
        return connection;
    }

    [Fact]
    public async Task ASecurityProtocolListedFirstOnBothSides_IsTheOneUsed()
    {
        var used = new List<RenamedSecurity>();
        void Configure(P2PHostOptions o) => o.SecurityProtocols.Insert(0, c => Track(used, new RenamedSecurity(NoiseSecurityProtocol.Create(c), RenamedNoise)));
        await using var listener = await StartAsync(Configure, listen: true);
        await using var dialer = await StartAsync(Configure, listen: false);
        await ConnectAndPingAsync(dialer, listener);
        Assert.Equal(2, used.Count);
        Assert.All(used, s => Assert.Equal(1, s.Handshakes));
    }

    [Fact]
    public async Task ASecurityProtocolThePeerLacks_FallsBackToTheNextInTheList()
    {
        var used = new List<RenamedSecurity>();
        await using var listener = await StartAsync(_ => { }, listen: true);
        await using var dialer = await StartAsync(
            o => o.SecurityProtocols.Insert(0, c => Track(used, new RenamedSecurity(NoiseSecurityProtocol.Create(c), RenamedNoise))), listen: false);
        await ConnectAndPingAsync(dialer, listener);
        Assert.Equal(0, Assert.Single(used).Handshakes);
    }

    [Theory]
    [InlineData(true)] // both announce it inside the Noise handshake
    [InlineData(false)] // no announcement: multistream-select picks it
    public async Task AMuxerListedFirstOnBothSides_IsTheOneUsed(bool inline)
    {
        void Configure(P2PHostOptions o)
        {
            o.Muxers.Insert(0, c => new RenamedMuxer(YamuxStreamMuxer.Create(c), RenamedYamux));
            o.Noise.StreamMuxers.Clear();
            if (inline)
            {
                o.Noise.StreamMuxers.Add(RenamedYamux);
            }
        }
        await using var listener = await StartAsync(Configure, listen: true);
        await using var dialer = await StartAsync(Configure, listen: false);
        var connection = await ConnectAndPingAsync(dialer, listener);
        Assert.Equal(RenamedYamux, connection.Muxer);
        Assert.Equal(RenamedYamux, Assert.Single(listener.Connections).Muxer);
    }

    [Fact]
    public async Task AMuxerThePeerLacks_FallsBackToTheNextInTheList()
    {
        await using var listener = await StartAsync(o => o.Noise.StreamMuxers.Clear(), listen: true);
        await using var dialer = await StartAsync(o =>
        {
            o.Muxers.Insert(0, c => new RenamedMuxer(YamuxStreamMuxer.Create(c), RenamedYamux));
            o.Noise.StreamMuxers.Clear();
        }, listen: false);
        var connection = await ConnectAndPingAsync(dialer, listener);
        Assert.Equal(YamuxStreamMuxer.Id, connection.Muxer);
    }

    private static RenamedSecurity Track(List<RenamedSecurity> list, RenamedSecurity security)
    {
        lock (list)
        {
            list.Add(security);
        }
        return security;
    }

    /// <summary>Noise under another protocol id: a stand-in for a second security protocol.</summary>
    private sealed class RenamedSecurity(ISecurityProtocol inner, string id) : ISecurityProtocol, IDisposable
    {
        private int _handshakes;

        public int Handshakes => Volatile.Read(ref _handshakes);

        public string ProtocolId => id;

        public ValueTask<ISecureConnection> SecureOutboundAsync(IDuplexPipe connection, PeerId? expectedPeer, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _handshakes);
            return inner.SecureOutboundAsync(connection, expectedPeer, cancellationToken);
        }

        public ValueTask<ISecureConnection> SecureInboundAsync(IDuplexPipe connection, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _handshakes);
            return inner.SecureInboundAsync(connection, cancellationToken);
        }

        public void Dispose() => (inner as IDisposable)?.Dispose();
    }

    /// <summary>Yamux under another protocol id: a stand-in for a second muxer.</summary>
    private sealed class RenamedMuxer(IStreamMuxer inner, string id) : IStreamMuxer
    {
        public string ProtocolId => id;

        public IMuxedSession CreateSession(IDuplexPipe connection, bool initiator) => inner.CreateSession(connection, initiator);
    }
}
