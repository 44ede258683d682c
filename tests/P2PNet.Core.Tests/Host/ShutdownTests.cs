using Microsoft.Extensions.Logging;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Testing;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.Host;

/// <summary>
/// Bounded close with real sockets: a peer that stopped reading (its socket is never read, as if its process were
/// paused) cannot hold a connection, a host's stop or a stream's disposal open, and a peer resetting while we close
/// never makes closing throw.
/// </summary>
public sealed class ShutdownTests(ITestOutputHelper output)
{
    private const string Firehose = "/test/firehose/1.0.0";
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);

    /// <summary>Room for a heavily loaded machine on top of the configured deadline; the old code hung forever.</summary>
    private static readonly TimeSpan Slack = TimeSpan.FromSeconds(6);

    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan ConnectionCloseTimeout = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task StopAsync_WithPeerThatStoppedReading_EndsWithinShutdownTimeout_AndDropsTheConnection()
    {
        await using var setup = await StallAsync();
        var stop = setup.Server.StopAsync().AsTask();
        var failure = await Record.ExceptionAsync(() => stop.WaitAsync(ShutdownTimeout + Slack));
        Assert.False(failure is TimeoutException, $"StopAsync did not end within {ShutdownTimeout + Slack} with a peer that stopped reading.");
        Assert.Null(failure);
        Assert.Empty(setup.Server.Connections);
        Assert.True(setup.ServerConnection.Closed.IsCompleted);
    }

    [Fact]
    public async Task ConnectionDispose_WithPeerThatStoppedReading_EndsWithinCloseTimeout_AndReleasesTheSlot()
    {
        await using var setup = await StallAsync();
        var close = setup.ServerConnection.DisposeAsync().AsTask();
        var failure = await Record.ExceptionAsync(() => close.WaitAsync(ConnectionCloseTimeout + Slack));
        Assert.False(failure is TimeoutException, $"DisposeAsync did not end within {ConnectionCloseTimeout + Slack} with a peer that stopped reading.");
        Assert.Null(failure);
        Assert.Empty(setup.Server.Connections);

        // The slot is free: the host still accepts and serves a new connection.
        await using var other = new P2PHost(loggerFactory: Logging());
        var fresh = await other.DialAsync(setup.ServerAddress).AsTask().WaitAsync(Step);
        Assert.Equal(setup.Server.PeerId, fresh.RemotePeer);
    }

    [Fact]
    public async Task StreamDispose_WhileItsWritesAreBlockedByAPeerThatStoppedReading_EndsAtOnce()
    {
        await using var setup = await StallAsync();
        setup.StopWriting();
        var disposed = await setup.HandlerStreamDisposed.WaitAsync(Step);
        Assert.True(disposed < TimeSpan.FromSeconds(2), $"disposing the stream took {disposed}");
        var stop = setup.Server.StopAsync().AsTask();
        Assert.Null(await Record.ExceptionAsync(() => stop.WaitAsync(ShutdownTimeout + Slack)));
    }

    [Fact]
    public async Task StopAndDispose_NeverThrow_WhenThePeerResetsDuringShutdown()
    {
        for (int i = 0; i < 6; i++)
        {
            await using var setup = await StallAsync(stall: false);
            var client = setup.Client;
            var server = setup.Server;
            var clientConnection = Assert.Single(client.Connections);
            // Race the remote reset against both closes, in a different order each time.
            Task reset = Task.Run(setup.Relay.ResetAll);
            Task[] closes = i % 2 == 0
                ? [server.StopAsync().AsTask(), clientConnection.DisposeAsync().AsTask()]
                : [clientConnection.DisposeAsync().AsTask(), server.StopAsync().AsTask()];
            var failure = await Record.ExceptionAsync(() => Task.WhenAll([reset, .. closes]).WaitAsync(ShutdownTimeout + Slack));
            Assert.Null(failure);
            Assert.Null(await Record.ExceptionAsync(() => server.DisposeAsync().AsTask().WaitAsync(ShutdownTimeout + Slack)));
            Assert.Null(await Record.ExceptionAsync(() => client.DisposeAsync().AsTask().WaitAsync(ShutdownTimeout + Slack)));
            Assert.Empty(server.Connections);
            Assert.Empty(client.Connections);
        }
    }

    private ILoggerFactory Logging() => XunitLoggerProvider.CreateFactory(output, LogLevel.Information);

    /// <summary>
    /// A server host whose handler writes without end to a client reached through a <see cref="StallingRelay"/>; the
    /// client reads a little, then (unless <paramref name="stall"/> is false) the relay stops reading from the server,
    /// and this returns once the server's writes are stuck.
    /// </summary>
    private async Task<Setup> StallAsync(bool stall = true)
    {
        var serverOptions = new P2PHostOptions { ShutdownTimeout = ShutdownTimeout, ConnectionCloseTimeout = ConnectionCloseTimeout };
        var server = new P2PHost(serverOptions, Logging());
        var setup = new Setup(server);
        try
        {
            server.SetStreamHandler(Firehose, setup.WriteUntilStoppedAsync);
            var bound = await server.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")).AsTask().WaitAsync(Step);
            setup.ServerAddress = bound[0];
            Assert.True(bound[0].TryGetTcpEndPoint(out var endPoint));
            setup.Relay = StallingRelay.Start(endPoint);

            // A large window lets the server run far ahead of what the kernel buffers: its own pipes fill and block.
            var clientOptions = new P2PHostOptions();
            clientOptions.Yamux.MaxWindowSize = 16 * 1024 * 1024;
            clientOptions.Yamux.InitialWindowSize = 16 * 1024 * 1024;
            setup.Client = new P2PHost(clientOptions, Logging());
            var viaRelay = Multiaddr.Parse($"/ip4/127.0.0.1/tcp/{setup.Relay.Port}/p2p/{server.PeerId}");
            var connection = await setup.Client.DialAsync(viaRelay).AsTask().WaitAsync(Step);
            var stream = await connection.OpenStreamAsync(Firehose).AsTask().WaitAsync(Step);
            byte[] buffer = new byte[64 * 1024];
            for (long read = 0; read < 1024 * 1024;)
            {
                int n = await stream.ReadAsync(buffer).AsTask().WaitAsync(Step);
                Assert.NotEqual(0, n);
                read += n;
            }
            setup.ServerConnection = Assert.Single(server.Connections);
            if (stall)
            {
                setup.Relay.StopReadingFromHost();
                await WaitUntilStuckAsync(setup.ServerConnection);
            }
            return setup;
        }
        catch
        {
            await setup.DisposeAsync();
            throw;
        }
    }

    /// <summary>Waits until the server has sent far more than the relay passed on and its sending has stopped.</summary>
    private static Task WaitUntilStuckAsync(P2PConnection connection)
    {
        long last = -1;
        var unchangedFor = System.Diagnostics.Stopwatch.StartNew();
        return Conditions.WaitUntilAsync(
            () =>
            {
                long sent = connection.BytesSent;
                if (sent != last)
                {
                    last = sent;
                    unchangedFor.Restart();
                }
                return unchangedFor.Elapsed >= TimeSpan.FromSeconds(1);
            },
            Step,
            "the server's sending never stopped");
    }

    private sealed class Setup(P2PHost server) : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stopWriting = new();
        private readonly TaskCompletionSource<TimeSpan> _handlerStreamDisposed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public P2PHost Server { get; } = server;

        public P2PHost Client { get; set; } = null!;

        public StallingRelay Relay { get; set; } = null!;

        public Multiaddr ServerAddress { get; set; } = null!;

        public P2PConnection ServerConnection { get; set; } = null!;

        /// <summary>How long the handler's stream took to dispose, once <see cref="StopWriting"/> was called.</summary>
        public Task<TimeSpan> HandlerStreamDisposed => _handlerStreamDisposed.Task;

        public void StopWriting() => _stopWriting.Cancel();

        public async Task WriteUntilStoppedAsync(P2PStream stream, CancellationToken cancellationToken)
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopWriting.Token);
            byte[] block = new byte[64 * 1024];
            try
            {
                while (true)
                {
                    await stream.WriteAsync(block, linked.Token);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or P2PNet.Muxing.MuxerClosedException or P2PNet.Muxing.StreamResetException)
            {
                // stopped, or the connection is closing
            }
            if (_stopWriting.IsCancellationRequested)
            {
                long started = TimeProvider.System.GetTimestamp();
                await stream.DisposeAsync();
                _handlerStreamDisposed.TrySetResult(TimeProvider.System.GetElapsedTime(started));
            }
        }

        public async ValueTask DisposeAsync()
        {
            // The relay first: its reset unblocks anything still stuck, so cleanup ends even when a test failed.
            if (Relay is not null)
            {
                await Relay.DisposeAsync();
            }
            foreach (var host in new[] { Client, Server })
            {
                if (host is not null)
                {
                    try
                    {
                        await host.DisposeAsync().AsTask().WaitAsync(Step);
                    }
                    catch (TimeoutException)
                    {
                        // reported by the test itself
                    }
                }
            }
            _stopWriting.Dispose();
        }
    }
}
