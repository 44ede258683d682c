using System.Diagnostics;
using System.Security.Cryptography;
using P2PNet.Host;
using P2PNet.Muxing;
using P2PNet.Protocols.Echo;
using P2PNet.Testing;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.Transports;

/// <summary>
/// Backpressure on <see cref="P2PNet.Transports.Tcp.TcpTransportOptions.LowLatency"/> connections: a stream whose reader
/// does not read holds its writer at the Yamux window, without holding the receive thread that every other stream of the
/// connection needs.
/// </summary>
[Collection(LowLatencyGroup.Name)]
public sealed class LowLatencyBackpressureTests(ITestOutputHelper output)
{
    private const string LateReader = "/test/late-reader/1.0.0";
    private const int PayloadSize = 8 * 1024 * 1024;
    private const int Chunk = 64 * 1024;
    private static readonly TimeSpan Timeout = LowLatencyHosts.Timeout;

    /// <summary>What the writer may get ahead of a reader that reads nothing: the receive window and the writer's send
    /// buffer (256 KiB each by default), a chunk in flight, and room to spare — far below the payload.</summary>
    private const int MostBufferedAhead = 2 * 1024 * 1024;

    [Fact]
    public async Task StreamNotRead_StallsItsWriterAtTheWindow_WhileOtherStreamsOfTheConnectionKeepWorking()
    {
        await using var hosts = await LowLatencyHosts.StartAsync(output);
        var startReading = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        hosts[1].SetStreamHandler(EchoProtocol.Id, EchoProtocol.HandleAsync);
        hosts[1].SetStreamHandler(LateReader, async (stream, ct) =>
        {
            // Reads nothing until told to, then everything, and answers with its hash.
            await startReading.Task.WaitAsync(ct);
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            byte[] buffer = new byte[Chunk];
            int read;
            while ((read = await stream.ReadAsync(buffer, ct)) > 0)
            {
                hash.AppendData(buffer, 0, read);
            }
            await stream.WriteAsync(hash.GetHashAndReset(), completeWrites: true, ct);
        });
        var connection = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        byte[] payload = RandomNumberGenerator.GetBytes(PayloadSize);
        var stream = await connection.OpenStreamAsync(LateReader).AsTask().WaitAsync(Timeout);
        long written = 0;
        var writer = Task.Run(async () =>
        {
            for (int offset = 0; offset < payload.Length; offset += Chunk)
            {
                await stream.WriteAsync(payload.AsMemory(offset, Chunk));
                Interlocked.Add(ref written, Chunk);
            }
            await stream.CompleteWritesAsync();
        });

        await WaitUntilStalledAsync(() => Interlocked.Read(ref written), writer);
        long stalledAt = Interlocked.Read(ref written);
        Assert.False(writer.IsCompleted, $"the writer finished all {PayloadSize} bytes although nothing was read");
        Assert.InRange(stalledAt, P2PNet.Muxing.YamuxOptions.DefaultWindowSize, MostBufferedAhead);

        // The receive thread on the late reader's side is free: pings and another stream's echo go through both ways.
        Assert.Equal(3, await LowLatencyHosts.PingAsync(connection));
        byte[] other = RandomNumberGenerator.GetBytes(1024 * 1024);
        Assert.Equal(SHA256.HashData(other), SHA256.HashData(await EchoClient.EchoAsync(connection, other).WaitAsync(Timeout)));
        Assert.Equal(3, await LowLatencyHosts.PingAsync(await LowLatencyHosts.SingleConnectionAsync(hosts[1])));
        Assert.InRange(Interlocked.Read(ref written), 0, MostBufferedAhead);
        Assert.False(writer.IsCompleted);

        startReading.TrySetResult();
        await writer.WaitAsync(Timeout);
        byte[] answer = new byte[32];
        await stream.ReadExactlyAsync(answer).AsTask().WaitAsync(Timeout);
        Assert.Equal(SHA256.HashData(payload), answer);
        Assert.Equal(0, await stream.ReadAsync(new byte[1]).AsTask().WaitAsync(Timeout));
        await stream.DisposeAsync().AsTask().WaitAsync(Timeout);
    }

    /// <summary>Waits until <paramref name="progress"/> has moved past the window and then not moved for a second.</summary>
    private static Task WaitUntilStalledAsync(Func<long> progress, Task writer)
    {
        long last = -1;
        var unchangedFor = Stopwatch.StartNew();
        return Conditions.WaitUntilAsync(
            () =>
            {
                long now = progress();
                if (now != last)
                {
                    last = now;
                    unchangedFor.Restart();
                }
                return writer.IsCompleted || (now >= YamuxOptions.DefaultWindowSize && unchangedFor.Elapsed >= TimeSpan.FromSeconds(1));
            },
            Timeout,
            () => $"the writer never stalled (at {progress()} bytes)");
    }
}
