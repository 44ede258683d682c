using System.Net;
using System.Net.Sockets;
using P2PNet.Core.Tests.Host;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Testing;
using P2PNet.Transports.Tcp;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.Transports;

/// <summary>
/// The receive thread of a <see cref="TcpTransportOptions.LowLatency"/> connection ends with its connection: when the
/// hosts are disposed, when the remote closes, when the remote resets, when a handshake fails; and a reset reaches a
/// pending stream read as the same error as without LowLatency.
/// </summary>
[Collection(LowLatencyGroup.Name)]
public sealed class LowLatencyLifecycleTests(ITestOutputHelper output)
{
    private const string Silent = "/test/silent/1.0.0";
    private static readonly TimeSpan Timeout = LowLatencyHosts.Timeout;

    [Fact]
    public async Task DisposingTheHosts_EndsEveryReceiveThread()
    {
        int before = SocketConnection.ReceiveThreads;
        var hosts = await LowLatencyHosts.StartAsync(output);
        Task<int> pending;
        await using (hosts)
        {
            hosts[1].SetStreamHandler(Silent, (stream, ct) => Task.Delay(System.Threading.Timeout.Infinite, ct));
            var connection = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
            // A stream with a read waiting, so disposal has to end that too.
            var stream = await connection.OpenStreamAsync(Silent).AsTask().WaitAsync(Timeout);
            pending = stream.ReadAsync(new byte[1]).AsTask();
            Assert.Equal(1, await LowLatencyHosts.PingAsync(connection, 1));
            Assert.Equal(before + 2, SocketConnection.ReceiveThreads);
            Assert.False(pending.IsCompleted);
        }
        await LowLatencyHosts.WaitForReceiveThreadsAsync(before, "after disposing both hosts");
        Assert.IsType<P2PNet.Muxing.MuxerClosedException>(await Record.ExceptionAsync(() => pending.WaitAsync(Timeout)));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task RemoteClose_EndsTheLocalReceiveThread(bool dialerIsLowLatency)
    {
        // Only the end that stays open uses LowLatency, so the thread that must end is the one the remote's close ends.
        int before = SocketConnection.ReceiveThreads;
        await using var hosts = await LowLatencyHosts.StartAsync(output, dialer: dialerIsLowLatency, listener: !dialerIsLowLatency);
        var dialed = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        Assert.Equal(1, await LowLatencyHosts.PingAsync(dialed, 1));
        Assert.Equal(before + 1, SocketConnection.ReceiveThreads);
        var (closer, stays) = dialerIsLowLatency ? (hosts[1], hosts[0]) : (hosts[0], hosts[1]);
        var staying = await LowLatencyHosts.SingleConnectionAsync(stays);

        await (await LowLatencyHosts.SingleConnectionAsync(closer)).DisposeAsync().AsTask().WaitAsync(Timeout);

        await staying.Closed.WaitAsync(Timeout);
        await LowLatencyHosts.WaitForReceiveThreadsAsync(before, "after the remote closed the connection");
        Assert.Empty(stays.Connections);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RemoteReset_FailsAPendingStreamRead_WithMuxerClosed_AndEndsTheReceiveThreads(bool lowLatency)
    {
        // The same outcome with and without LowLatency: the reset ends the session, and a read waiting on one of its
        // streams throws MuxerClosedException (an IOException) instead of hanging.
        int before = SocketConnection.ReceiveThreads;
        await using var hosts = await LowLatencyHosts.StartAsync(output, lowLatency, lowLatency);
        var handlerStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handlerRead = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        hosts[1].SetStreamHandler(Silent, async (stream, ct) =>
        {
            byte[] one = new byte[1];
            await stream.ReadExactlyAsync(one, ct);
            handlerStarted.TrySetResult();
            handlerRead.TrySetResult(await Record.ExceptionAsync(async () => await stream.ReadExactlyAsync(one, ct)));
        });
        Assert.True(hosts[1].ListenAddresses[0].TryGetTcpEndPoint(out var endPoint));
        await using var relay = StallingRelay.Start(endPoint);
        var viaRelay = Multiaddr.Parse($"/ip4/127.0.0.1/tcp/{relay.Port}/p2p/{hosts[1].PeerId}");
        var connection = await hosts[0].DialAsync(viaRelay).AsTask().WaitAsync(Timeout);
        var stream = await connection.OpenStreamAsync(Silent).AsTask().WaitAsync(Timeout);
        await stream.WriteAsync(new byte[] { 1 }).AsTask().WaitAsync(Timeout);
        await handlerStarted.Task.WaitAsync(Timeout);
        var pending = stream.ReadAsync(new byte[1]).AsTask();
        Assert.Equal(before + (lowLatency ? 2 : 0), SocketConnection.ReceiveThreads);

        relay.ResetAll();

        var error = await Assert.ThrowsAnyAsync<IOException>(() => pending.WaitAsync(Timeout));
        Assert.IsType<P2PNet.Muxing.MuxerClosedException>(error);
        await connection.Closed.WaitAsync(Timeout);
        // The handler's read on the other host fails the same way (its connection was reset as well).
        Assert.IsType<P2PNet.Muxing.MuxerClosedException>(await handlerRead.Task.WaitAsync(Timeout));
        await LowLatencyHosts.WaitForReceiveThreadsAsync(before, "after the relay reset both connections");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ClosingTheConnection_FromAReadContinuationOnTheReceiveThread_ClosesBothEnds(bool serverCloses)
    {
        // On a LowLatency connection a stream's read continuation runs on the receive thread, in the middle of the
        // transport's, Noise's and Yamux's loops: closing the whole connection from there must not deadlock on them.
        // The two ends exchange single bytes until the closing end's read resumes on its receive thread (a read can
        // also complete at once, when the byte was there before it), and close from that continuation.
        const int MaxRounds = 50;
        int before = SocketConnection.ReceiveThreads;
        await using var hosts = await LowLatencyHosts.StartAsync(output);
        var closedFrom = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var serverClose = new TaskCompletionSource<Task>(TaskCreationOptions.RunContinuationsAsynchronously);
        hosts[1].SetStreamHandler(Silent, async (stream, ct) =>
        {
            byte[] one = new byte[1];
            for (int round = 0; await stream.ReadAtLeastAsync(one, 1, throwOnEndOfStream: false, ct).ConfigureAwait(false) == 1; round++)
            {
                if (serverCloses && (Thread.CurrentThread.Name == "p2pnet receive" || round == MaxRounds))
                {
                    // Started here, awaited by the test: a handler that awaited its own connection's close would wait
                    // for itself (the close waits for the connection's handlers) until the close timeout.
                    serverClose.TrySetResult(stream.Connection.DisposeAsync().AsTask());
                    closedFrom.TrySetResult(Thread.CurrentThread.Name);
                    return;
                }
                await stream.WriteAsync(one, ct).ConfigureAwait(false);
                await stream.FlushAsync(ct).ConfigureAwait(false);
            }
        });
        var connection = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        var server = await LowLatencyHosts.SingleConnectionAsync(hosts[1]);
        var stream = await connection.OpenStreamAsync(Silent).AsTask().WaitAsync(Timeout);

        await Task.Run(async () =>
        {
            byte[] one = new byte[1];
            for (int round = 0; round <= MaxRounds; round++)
            {
                try
                {
                    await stream.WriteAsync(one).ConfigureAwait(false);
                    await stream.FlushAsync().ConfigureAwait(false);
                    if (await stream.ReadAtLeastAsync(one, 1, throwOnEndOfStream: false).ConfigureAwait(false) == 0)
                    {
                        return; // the server closed
                    }
                }
                catch (IOException) when (serverCloses)
                {
                    return; // the server closed
                }
                if (!serverCloses && (Thread.CurrentThread.Name == "p2pnet receive" || round == MaxRounds))
                {
                    closedFrom.TrySetResult(Thread.CurrentThread.Name);
                    await connection.DisposeAsync().ConfigureAwait(false);
                    return;
                }
            }
        }).WaitAsync(Timeout);

        Assert.Equal("p2pnet receive", await closedFrom.Task.WaitAsync(Timeout));
        if (serverCloses)
        {
            await (await serverClose.Task.WaitAsync(Timeout)).WaitAsync(Timeout);
        }
        await Task.WhenAll(connection.Closed, server.Closed).WaitAsync(Timeout);
        await LowLatencyHosts.WaitForReceiveThreadsAsync(before, "after the connection closed itself from its receive thread");
        Assert.Empty(hosts[0].Connections);
        Assert.Empty(hosts[1].Connections);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RawPeerThatHangsUpMidHandshake_LeavesNoReceiveThread_AndTheHostServesTheNextDial(bool reset)
    {
        int before = SocketConnection.ReceiveThreads;
        // A handshake timeout far beyond the wait below: only the hang-up itself can end the connection in time.
        await using var hosts = await LowLatencyHosts.StartAsync(output, configure: (_, o) => o.HandshakeTimeout = TimeSpan.FromMinutes(5));
        Assert.True(hosts[1].ListenAddresses[0].TryGetTcpEndPoint(out var endPoint));
        using (var raw = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await raw.ConnectAsync(endPoint).WaitAsync(Timeout);
            // Half a multistream-select exchange: the host's end of it was accepted as a LowLatency connection.
            await raw.SendAsync("\u0013/multistream/1.0.0\n"u8.ToArray(), SocketFlags.None).WaitAsync(Timeout);
            await LowLatencyHosts.WaitForReceiveThreadsAsync(before + 1, "while the raw peer is connected");
            if (reset)
            {
                raw.LingerState = new LingerOption(true, 0);
                raw.Close(); // RST
            }
            else
            {
                // FIN only, the socket stays open: end of stream has to end the host's receive thread by itself.
                raw.Shutdown(SocketShutdown.Send);
            }
            await LowLatencyHosts.WaitForReceiveThreadsAsync(before, reset ? "after the raw peer reset" : "after the raw peer half-closed");
        }

        var connection = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        Assert.Equal(1, await LowLatencyHosts.PingAsync(connection, 1));
    }
}
