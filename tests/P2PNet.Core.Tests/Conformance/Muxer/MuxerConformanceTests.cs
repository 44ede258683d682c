using System.IO.Pipelines;
using P2PNet.Crypto;
using P2PNet.Muxing;
using P2PNet.Muxing.Yamux;
using P2PNet.Security.Noise;
using P2PNet.Upgrade;

namespace P2PNet.Core.Tests.Conformance.Muxer;

/// <summary>
/// The contract of an <see cref="IStreamMuxer"/> and its <see cref="IMuxedSession"/>, which every muxer passes over
/// every secured pipe: streams open, are accepted and carry data both ways; half-close and reset reach the remote; a
/// stress matrix of 1 connection × 1,000 streams; close ends accepting and opening; the round trip is measurable.
/// </summary>
public abstract class MuxerConformanceTests
{
    private static readonly TimeSpan Timeout = ConnectedPair.Timeout;

    /// <summary>The muxer under test.</summary>
    protected virtual IStreamMuxer CreateMuxer() => new YamuxStreamMuxer(new YamuxOptions());

    /// <summary>A connected (secured, or raw) pipe pair; disposing the owner closes it.</summary>
    private protected abstract Task<(IDuplexPipe Client, IDuplexPipe Server, IAsyncDisposable Owner)> ConnectAsync();

    private async Task<Sessions> StartAsync()
    {
        var (client, server, owner) = await ConnectAsync();
        IStreamMuxer muxer = CreateMuxer();
        var sessions = new Sessions(muxer.CreateSession(client, initiator: true), muxer.CreateSession(server, initiator: false), owner);
        sessions.Client.Start();
        sessions.Server.Start();
        return sessions;
    }

    [Fact]
    public async Task OpenedStream_IsAccepted_AndCarriesDataBothWays()
    {
        await using var s = await StartAsync();
        MuxedStream opened = await s.Client.OpenStreamAsync().AsTask().WaitAsync(Timeout);
        await ConnectedPair.WriteAsync(opened.Output, "hello");
        MuxedStream? accepted = await s.Server.AcceptStreamAsync().AsTask().WaitAsync(Timeout);
        Assert.NotNull(accepted);
        Assert.Equal("hello", await ConnectedPair.ReadExactlyAsync(accepted.Input, 5));
        await ConnectedPair.WriteAsync(accepted.Output, "world");
        Assert.Equal("world", await ConnectedPair.ReadExactlyAsync(opened.Input, 5));
        await opened.DisposeAsync();
        await accepted.DisposeAsync();
    }

    [Fact]
    public async Task HalfClose_EndsTheRemotesReads_WhileItCanStillWrite()
    {
        await using var s = await StartAsync();
        MuxedStream opened = await s.Client.OpenStreamAsync().AsTask().WaitAsync(Timeout);
        await opened.WriteAsync("request"u8.ToArray(), completeWrites: true).AsTask().WaitAsync(Timeout);
        MuxedStream accepted = (await s.Server.AcceptStreamAsync().AsTask().WaitAsync(Timeout))!;
        Assert.Equal(7, (await ConnectedPair.ReadAllAsync(accepted.Input)).Length);
        await accepted.ReadsClosed.WaitAsync(Timeout);
        await accepted.WriteAsync("response"u8.ToArray(), completeWrites: true).AsTask().WaitAsync(Timeout);
        Assert.Equal(8, (await ConnectedPair.ReadAllAsync(opened.Input)).Length);
        await opened.DisposeAsync();
        await accepted.DisposeAsync();
    }

    [Fact]
    public async Task Abort_ResetsTheStreamOnTheRemote()
    {
        await using var s = await StartAsync();
        MuxedStream opened = await s.Client.OpenStreamAsync().AsTask().WaitAsync(Timeout);
        await ConnectedPair.WriteAsync(opened.Output, "x");
        MuxedStream accepted = (await s.Server.AcceptStreamAsync().AsTask().WaitAsync(Timeout))!;
        Assert.Equal("x", await ConnectedPair.ReadExactlyAsync(accepted.Input, 1));
        opened.Abort();
        var reset = await Assert.ThrowsAsync<StreamResetException>(() => accepted.ReadsClosed.WaitAsync(Timeout));
        Assert.True(reset.IsRemote);
        await accepted.DisposeAsync();
        await opened.DisposeAsync();
    }

    [Fact]
    public async Task OneConnection_ThousandStreams_AllEchoTheirOwnData()
    {
        const int Streams = 1000;
        await using var s = await StartAsync();
        var server = Task.Run(async () =>
        {
            var echoes = new List<Task>();
            for (int i = 0; i < Streams; i++)
            {
                MuxedStream stream = (await s.Server.AcceptStreamAsync().AsTask().WaitAsync(Timeout))!;
                echoes.Add(EchoAsync(stream));
            }
            await Task.WhenAll(echoes);
        });
        var clients = Enumerable.Range(0, Streams).Select(async i =>
        {
            await using MuxedStream stream = await s.Client.OpenStreamAsync().AsTask().WaitAsync(Timeout);
            string text = $"stream {i:D4}";
            await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(text), completeWrites: true).AsTask().WaitAsync(Timeout);
            Assert.Equal(text, await ConnectedPair.ReadExactlyAsync(stream.Input, text.Length));
        });
        await Task.WhenAll(clients).WaitAsync(Timeout);
        await server.WaitAsync(Timeout);
    }

    private static async Task EchoAsync(MuxedStream stream)
    {
        await using (stream)
        {
            await stream.Input.CopyToAsync(stream.Output).WaitAsync(Timeout);
            await stream.CompleteWritesAsync().AsTask().WaitAsync(Timeout);
        }
    }

    [Fact]
    public async Task StreamCount_FollowsOpenAndClosedStreams()
    {
        await using var s = await StartAsync();
        Assert.Equal(0, s.Client.StreamCount);
        MuxedStream opened = await s.Client.OpenStreamAsync().AsTask().WaitAsync(Timeout);
        Assert.Equal(1, s.Client.StreamCount);
        opened.Abort();
        await opened.DisposeAsync();
        await ConnectedPair.WaitUntilAsync(() => s.Client.StreamCount == 0, "the reset stream left the session");
    }

    [Fact]
    public async Task Close_EndsAcceptingOnBothSides_AndOpeningFails()
    {
        await using var s = await StartAsync();
        await s.Client.CloseAsync().AsTask().WaitAsync(Timeout);
        Assert.Null(await s.Server.AcceptStreamAsync().AsTask().WaitAsync(Timeout));
        Assert.Null(await s.Client.AcceptStreamAsync().AsTask().WaitAsync(Timeout));
        await Assert.ThrowsAsync<MuxerClosedException>(() => s.Client.OpenStreamAsync().AsTask().WaitAsync(Timeout));
        await s.Server.Completion.WaitAsync(Timeout);
    }

    [Fact]
    public async Task MeasureRoundTrip_ReturnsAPositiveTime()
    {
        await using var s = await StartAsync();
        TimeSpan rtt = await s.Client.MeasureRoundTripAsync().AsTask().WaitAsync(Timeout);
        Assert.True(rtt > TimeSpan.Zero);
    }

    private sealed class Sessions(IMuxedSession client, IMuxedSession server, IAsyncDisposable owner) : IAsyncDisposable
    {
        public IMuxedSession Client { get; } = client;

        public IMuxedSession Server { get; } = server;

        public async ValueTask DisposeAsync()
        {
            await Client.DisposeAsync().AsTask().WaitAsync(Timeout);
            await Server.DisposeAsync().AsTask().WaitAsync(Timeout);
            await owner.DisposeAsync().AsTask().WaitAsync(Timeout);
        }
    }
}

/// <summary>Yamux straight over TCP passes the muxer contract.</summary>
public sealed class YamuxOverTcpConformanceTests : MuxerConformanceTests
{
    private protected override async Task<(IDuplexPipe Client, IDuplexPipe Server, IAsyncDisposable Owner)> ConnectAsync()
    {
        var pair = await ConnectedPair.TcpAsync();
        return (pair.Client, pair.Server, pair);
    }
}

/// <summary>Yamux over Noise over a WebSocket — the browser's stack — passes the muxer contract.</summary>
public sealed class YamuxOverNoiseOverWebSocketConformanceTests : MuxerConformanceTests
{
    private protected override async Task<(IDuplexPipe Client, IDuplexPipe Server, IAsyncDisposable Owner)> ConnectAsync()
    {
        var pair = await ConnectedPair.WebSocketAsync();
        var owner = new Secured(pair);
        var inbound = owner.Server.SecureInboundAsync(pair.Server, CancellationToken.None).AsTask();
        var outbound = owner.Client.SecureOutboundAsync(pair.Client, owner.ServerKey.PublicKey.ToPeerId(), CancellationToken.None).AsTask();
        await Task.WhenAll(inbound, outbound).WaitAsync(ConnectedPair.Timeout);
        owner.Channels = [await outbound, await inbound];
        return (owner.Channels[0], owner.Channels[1], owner);
    }

    private sealed class Secured(ConnectedPair pair) : IAsyncDisposable
    {
        private readonly PrivateKey _clientKey = PrivateKey.GenerateEd25519();

        public PrivateKey ServerKey { get; } = PrivateKey.GenerateEd25519();

        public NoiseSecurityProtocol Client => _client ??= new NoiseSecurityProtocol(_clientKey, new NoiseOptions(), [YamuxStreamMuxer.Id]);

        public NoiseSecurityProtocol Server => _server ??= new NoiseSecurityProtocol(ServerKey, new NoiseOptions(), [YamuxStreamMuxer.Id]);

        public ISecureConnection[] Channels { get; set; } = [];

        private NoiseSecurityProtocol? _client;
        private NoiseSecurityProtocol? _server;

        public async ValueTask DisposeAsync()
        {
            foreach (var channel in Channels)
            {
                await channel.DisposeAsync();
            }
            await pair.DisposeAsync();
            _client?.Dispose();
            _server?.Dispose();
            _clientKey.Dispose();
            ServerKey.Dispose();
        }
    }
}
