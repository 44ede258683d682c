using System.IO.Pipelines;
using P2PNet.Crypto;
using P2PNet.Muxing.Yamux;
using P2PNet.Peers;
using P2PNet.Security.Noise;
using P2PNet.Upgrade;

namespace P2PNet.Core.Tests.Conformance.SecureChannel;

/// <summary>
/// The contract of an <see cref="ISecurityProtocol"/> and the <see cref="ISecureConnection"/> it makes, which every
/// security protocol passes over every kind of pipe: both peers authenticated, the dialled identity enforced, data
/// intact both ways, half-close, concurrent handshakes on one instance.
/// </summary>
public abstract class SecureChannelConformanceTests : IDisposable
{
    private static readonly TimeSpan Timeout = ConnectedPair.Timeout;

    private readonly PrivateKey _clientKey = PrivateKey.GenerateEd25519();
    private readonly PrivateKey _serverKey = PrivateKey.GenerateEd25519();
    private readonly ISecurityProtocol _client;
    private readonly ISecurityProtocol _server;

    protected SecureChannelConformanceTests()
    {
        _client = CreateProtocol(_clientKey);
        _server = CreateProtocol(_serverKey);
    }

    /// <summary>The security protocol under test, for <paramref name="identity"/>.</summary>
    protected abstract ISecurityProtocol CreateProtocol(PrivateKey identity);

    /// <summary>A connected raw pipe pair; disposing the result closes it.</summary>
    private protected abstract Task<(IDuplexPipe Client, IDuplexPipe Server, IAsyncDisposable Owner)> ConnectRawAsync();

    private async Task<(ISecureConnection Client, ISecureConnection Server, IAsyncDisposable Owner)> SecureAsync(PeerId? expected = null)
    {
        var (client, server, owner) = await ConnectRawAsync();
        var inbound = _server.SecureInboundAsync(server, CancellationToken.None).AsTask();
        var outbound = _client.SecureOutboundAsync(client, expected ?? _serverKey.PublicKey.ToPeerId(), CancellationToken.None).AsTask();
        await Task.WhenAll(inbound, outbound).WaitAsync(Timeout);
        return (await outbound, await inbound, owner);
    }

    [Fact]
    public async Task Handshake_AuthenticatesBothPeers()
    {
        var (client, server, owner) = await SecureAsync();
        await using (owner)
        {
            Assert.Equal(_clientKey.PublicKey.ToPeerId(), client.LocalPeer);
            Assert.Equal(_serverKey.PublicKey.ToPeerId(), client.RemotePeer);
            Assert.Equal(_serverKey.PublicKey, client.RemotePublicKey);
            Assert.Equal(_serverKey.PublicKey.ToPeerId(), server.LocalPeer);
            Assert.Equal(_clientKey.PublicKey.ToPeerId(), server.RemotePeer);
            Assert.Equal(_clientKey.PublicKey, server.RemotePublicKey);
            await client.DisposeAsync();
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task Handshake_WithAnotherPeerThanExpected_FailsOutbound()
    {
        using var stranger = PrivateKey.GenerateEd25519();
        var (client, server, owner) = await ConnectRawAsync();
        await using (owner)
        {
            var inbound = _server.SecureInboundAsync(server, CancellationToken.None).AsTask();
            var outbound = _client.SecureOutboundAsync(client, stranger.PublicKey.ToPeerId(), CancellationToken.None).AsTask();
            var error = await Assert.ThrowsAnyAsync<IOException>(() => outbound.WaitAsync(Timeout));
            Assert.Contains(stranger.PublicKey.ToPeerId().ToString(), error.Message, StringComparison.Ordinal);
            await Assert.ThrowsAnyAsync<IOException>(() => inbound.WaitAsync(Timeout)); // dropped, not left hanging
        }
    }

    [Fact]
    public async Task LargeTransfers_BothWaysAtOnce_ArriveIntact()
    {
        const int Length = 2 * 1024 * 1024;
        var (client, server, owner) = await SecureAsync();
        await using (owner)
        {
            var up = ConnectedPair.WriteRandomAsync(client.Output, Length, seed: 3);
            var down = ConnectedPair.WriteRandomAsync(server.Output, Length, seed: 4);
            var atServer = ConnectedPair.ReadAllAsync(server.Input);
            var atClient = ConnectedPair.ReadAllAsync(client.Input);
            await Task.WhenAll(up, down, atServer, atClient).WaitAsync(Timeout);
            ConnectedPair.AssertReceived(Length, await up, await atServer);
            ConnectedPair.AssertReceived(Length, await down, await atClient);
            await client.DisposeAsync();
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task CompletingTheOutput_EndsTheRemotesInput_WhileTheOtherDirectionStaysOpen()
    {
        var (client, server, owner) = await SecureAsync();
        await using (owner)
        {
            await ConnectedPair.WriteAsync(client.Output, "bye");
            await client.Output.CompleteAsync().AsTask().WaitAsync(Timeout);
            Assert.Equal(3, (await ConnectedPair.ReadAllAsync(server.Input)).Length);
            await ConnectedPair.WriteAsync(server.Output, "still here");
            Assert.Equal("still here", await ConnectedPair.ReadExactlyAsync(client.Input, 10));
            await client.DisposeAsync();
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task Abort_EndsLocalReads_AndDisposeStillReturns()
    {
        var (client, server, owner) = await SecureAsync();
        await using (owner)
        {
            // Abort is local: the remote learns when the transport below closes, which its owner does next.
            client.Abort(new IOException("test abort"));
            try
            {
                await ConnectedPair.ReadAllAsync(client.Input);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
            {
            }
            await client.DisposeAsync().AsTask().WaitAsync(Timeout);
            await server.DisposeAsync().AsTask().WaitAsync(Timeout);
        }
    }

    [Fact]
    public async Task ConcurrentHandshakes_OnOneInstance_AllSucceed()
    {
        var handshakes = Enumerable.Range(0, 8).Select(async _ =>
        {
            var (client, server, owner) = await SecureAsync();
            await using (owner)
            {
                await ConnectedPair.WriteAsync(client.Output, "ping");
                Assert.Equal("ping", await ConnectedPair.ReadExactlyAsync(server.Input, 4));
                await client.DisposeAsync();
                await server.DisposeAsync();
            }
        });
        await Task.WhenAll(handshakes).WaitAsync(Timeout);
    }

    public void Dispose()
    {
        (_client as IDisposable)?.Dispose();
        (_server as IDisposable)?.Dispose();
        _clientKey.Dispose();
        _serverKey.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>Noise over real TCP sockets passes the secure channel contract.</summary>
public sealed class NoiseOverTcpConformanceTests : SecureChannelConformanceTests
{
    protected override ISecurityProtocol CreateProtocol(PrivateKey identity) =>
        new NoiseSecurityProtocol(identity, new NoiseOptions(), [YamuxStreamMuxer.Id]);

    private protected override async Task<(IDuplexPipe Client, IDuplexPipe Server, IAsyncDisposable Owner)> ConnectRawAsync()
    {
        var pair = await ConnectedPair.TcpAsync();
        return (pair.Client, pair.Server, pair);
    }
}

/// <summary>Noise over an in-memory pipe (what a relayed stream looks like) passes the secure channel contract.</summary>
public sealed class NoiseOverPipeConformanceTests : SecureChannelConformanceTests
{
    protected override ISecurityProtocol CreateProtocol(PrivateKey identity) =>
        new NoiseSecurityProtocol(identity, new NoiseOptions(), [YamuxStreamMuxer.Id]);

    private protected override Task<(IDuplexPipe Client, IDuplexPipe Server, IAsyncDisposable Owner)> ConnectRawAsync()
    {
        var (left, right) = PipeTransportConnection.CreatePair();
        return Task.FromResult<(IDuplexPipe, IDuplexPipe, IAsyncDisposable)>((left, right, new Both(left, right)));
    }

    private sealed class Both(IAsyncDisposable a, IAsyncDisposable b) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await a.DisposeAsync();
            await b.DisposeAsync();
        }
    }
}
