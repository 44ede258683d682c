using System.Collections.Concurrent;
using System.Security.Cryptography;
using P2PNet.Host;
using P2PNet.Protocols.Echo;
using P2PNet.Testing;
using P2PNet.Transports.Tcp;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.Transports;

/// <summary>
/// Hosts whose TCP connections use <see cref="TcpTransportOptions.LowLatency"/> (a receive thread per connection, Noise
/// and Yamux run inline on it) over real loopback sockets: ping, bulk and concurrent echo, interoperation with a host
/// that does not use it, and stream readers resuming on the receive thread.
/// </summary>
[Collection(LowLatencyGroup.Name)]
public sealed class LowLatencyTests(ITestOutputHelper output)
{
    private const string Lockstep = "/test/lockstep/1.0.0";
    private static readonly TimeSpan Timeout = LowLatencyHosts.Timeout;

    [Fact]
    public async Task Ping_BetweenLowLatencyHosts_IsAnswered_WithAReceiveThreadPerConnectionEnd()
    {
        int before = SocketConnection.ReceiveThreads;
        await using var hosts = await LowLatencyHosts.StartAsync(output);
        var connection = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);

        // Dialer and listener ends are in this process: one receive thread each.
        Assert.Equal(before + 2, SocketConnection.ReceiveThreads);
        Assert.Equal(5, await LowLatencyHosts.PingAsync(connection, 5));
    }

    [Fact]
    public async Task Echo_OfEightMebibytes_BetweenLowLatencyHosts_ComesBackIdentical()
    {
        await using var hosts = await LowLatencyHosts.StartAsync(output);
        hosts[1].SetStreamHandler(EchoProtocol.Id, EchoProtocol.HandleAsync);
        var connection = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        byte[] payload = RandomNumberGenerator.GetBytes(8 * 1024 * 1024);

        byte[] echoed = await EchoClient.EchoAsync(connection, payload).WaitAsync(Timeout);

        Assert.Equal(payload.Length, echoed.Length);
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(echoed));
    }

    [Fact]
    public async Task ThirtyTwoConcurrentStreams_BetweenLowLatencyHosts_EachEchoTheirOwnData()
    {
        await using var hosts = await LowLatencyHosts.StartAsync(output);
        hosts[1].SetStreamHandler(EchoProtocol.Id, EchoProtocol.HandleAsync);
        var connection = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        var payloads = Enumerable.Range(0, 32).Select(_ => RandomNumberGenerator.GetBytes(256 * 1024)).ToArray();

        var echoed = await Task.WhenAll(payloads.Select(p => Task.Run(() => EchoClient.EchoAsync(connection, p)))).WaitAsync(Timeout);

        for (int i = 0; i < payloads.Length; i++)
        {
            Assert.True(SHA256.HashData(payloads[i]).AsSpan().SequenceEqual(SHA256.HashData(echoed[i])), $"stream {i} echoed different bytes ({echoed[i].Length} of {payloads[i].Length})");
        }
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public async Task OneSideLowLatency_InteroperatesWithTheOther_PingAndEcho(bool dialerLowLatency, bool listenerLowLatency)
    {
        int before = SocketConnection.ReceiveThreads;
        await using var hosts = await LowLatencyHosts.StartAsync(output, dialerLowLatency, listenerLowLatency);
        hosts[1].SetStreamHandler(EchoProtocol.Id, EchoProtocol.HandleAsync);
        hosts[0].SetStreamHandler(EchoProtocol.Id, EchoProtocol.HandleAsync);
        var connection = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        Assert.Equal(before + 1, SocketConnection.ReceiveThreads);

        Assert.Equal(3, await LowLatencyHosts.PingAsync(connection));
        byte[] payload = RandomNumberGenerator.GetBytes(2 * 1024 * 1024);
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(await EchoClient.EchoAsync(connection, payload).WaitAsync(Timeout)));

        // And the other way round, on the listener's end of the same connection.
        var back = await LowLatencyHosts.SingleConnectionAsync(hosts[1]);
        Assert.Equal(3, await LowLatencyHosts.PingAsync(back));
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(await EchoClient.EchoAsync(back, payload).WaitAsync(Timeout)));
    }

    [Fact]
    public async Task StreamReads_OnLowLatencyConnections_ResumeOnTheReceiveThread()
    {
        await using var hosts = await LowLatencyHosts.StartAsync(output);
        var serverReads = new ConcurrentQueue<(bool Resumed, string? Thread)>();
        hosts[1].SetStreamHandler(Lockstep, async (stream, ct) =>
        {
            // Echoes one byte at a time: the client sends the next only after this answer, so the read usually waits.
            byte[] one = new byte[1];
            while (true)
            {
                int thread = Environment.CurrentManagedThreadId;
                if (await stream.ReadAsync(one, ct).ConfigureAwait(false) == 0)
                {
                    break;
                }
                serverReads.Enqueue((Environment.CurrentManagedThreadId != thread, Thread.CurrentThread.Name));
                await stream.WriteAsync(one, ct).ConfigureAwait(false);
                await stream.FlushAsync(ct).ConfigureAwait(false);
            }
            await stream.CompleteWritesAsync(ct).ConfigureAwait(false);
        });
        var connection = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);

        var clientReads = await Task.Run(() => LockstepAsync(connection, rounds: 20)).WaitAsync(Timeout);

        await Conditions.WaitUntilAsync(() => serverReads.Count == 20, Timeout, "the server has read every round");
        output.WriteLine($"client reads: {string.Join(", ", clientReads)}");
        output.WriteLine($"server reads: {string.Join(", ", serverReads)}");
        AssertResumedOnReceiveThread("client", clientReads);
        AssertResumedOnReceiveThread("server", [.. serverReads]);
    }

    /// <summary>Sends <paramref name="rounds"/> single bytes, each after the previous one's echo; returns, for each read
    /// of an echo, whether it resumed on another thread than it started on and that thread's name.</summary>
    private static async Task<List<(bool Resumed, string? Thread)>> LockstepAsync(P2PConnection connection, int rounds)
    {
        using var deadline = new CancellationTokenSource(Timeout);
        var stream = await connection.OpenStreamAsync(Lockstep, deadline.Token).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var reads = new List<(bool, string?)>();
            byte[] one = new byte[1];
            for (int i = 0; i < rounds; i++)
            {
                one[0] = (byte)i;
                await stream.WriteAsync(one, deadline.Token).ConfigureAwait(false);
                await stream.FlushAsync(deadline.Token).ConfigureAwait(false);
                int thread = Environment.CurrentManagedThreadId;
                int n = await stream.ReadAsync(one, deadline.Token).ConfigureAwait(false);
                reads.Add((Environment.CurrentManagedThreadId != thread, Thread.CurrentThread.Name));
                if (n != 1 || one[0] != (byte)i)
                {
                    throw new IOException($"round {i}: read {n} bytes, {one[0]}");
                }
            }
            await stream.CompleteWritesAsync(deadline.Token).ConfigureAwait(false);
            return reads;
        }
    }

    private static void AssertResumedOnReceiveThread(string side, IReadOnlyList<(bool Resumed, string? Thread)> reads)
    {
        // Skip the first round, whose read may also wait for the protocol negotiation. A read that continued on the
        // thread it started on either completed at once or was resumed by that very thread (once on the receive
        // thread, the lockstep stays there); one that continued on another thread was resumed, and must have been
        // resumed by the receive thread, not the pool. One or two may still come from the pool while the
        // connection's loops settle onto the receive thread (its Identify exchange runs at the same time); without
        // inline delivery none at all would continue on the receive thread.
        var rounds = reads.Skip(1).ToList();
        int onReceiveThread = rounds.Count(r => r.Thread == "p2pnet receive");
        var fromPool = rounds.Where(r => r.Resumed && r.Thread != "p2pnet receive").ToList();
        Assert.True(onReceiveThread >= rounds.Count / 2, $"{side}: only {onReceiveThread} of {rounds.Count} reads continued on the receive thread");
        Assert.True(fromPool.Count <= 2, $"{side}: {fromPool.Count} of {rounds.Count} reads were resumed elsewhere ({string.Join(", ", fromPool.Select(r => r.Thread))})");
    }
}
