using System.Buffers.Binary;
using P2PNet.Host;
using P2PNet.Protocols.Perf;
using P2PNet.Protocols.Ping;
using P2PNet.Testing;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.Perf;

/// <summary>
/// The perf server's download size is chosen by the client (a u64). A hostile size must not make the server allocate it,
/// overflow, or outlive the client: the server streams fixed-size blocks under flow control and stops when reset.
/// </summary>
public sealed class PerfHostileClientTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private async Task<(TestHostGroup Hosts, P2PConnection Connection)> ConnectAsync()
    {
        var hosts = await TestHostGroup.StartAsync(2, (i, o) => o.EnablePerf = true, XunitLoggerProvider.CreateFactory(output)).WaitAsync(Timeout);
        var connection = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        return (hosts, connection);
    }

    [Theory]
    [InlineData(0x8000_0000_0000_0000UL)] // 2^63: negative as a long
    [InlineData(ulong.MaxValue)]
    public async Task Server_AskedForAHugeDownload_StreamsWithoutAllocatingItAndStopsWhenReset(ulong requested)
    {
        var (hosts, connection) = await ConnectAsync();
        await using (hosts)
        {
            var stream = await connection.OpenStreamAsync(PerfProtocol.Id).AsTask().WaitAsync(Timeout);
            var header = new byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(header, requested);
            await stream.WriteAsync(header).AsTask().WaitAsync(Timeout);
            await stream.CompleteWritesAsync().AsTask().WaitAsync(Timeout);

            // The server sends: data arrives, zero-filled, in blocks, while memory stays far below what was asked for.
            long before = GC.GetTotalAllocatedBytes(precise: true);
            var buffer = new byte[64 * 1024];
            long received = 0;
            while (received < 4 * 1024 * 1024)
            {
                int n = await stream.ReadAsync(buffer).AsTask().WaitAsync(Timeout);
                Assert.True(n > 0, "the server ended the stream instead of sending");
                Assert.True(buffer.AsSpan(0, n).IndexOfAnyExcept((byte)0) < 0);
                received += n;
            }
            long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
            Assert.True(allocated < 256L * 1024 * 1024, $"{allocated} bytes allocated while 4 MiB were received");

            // Resetting stops the server; the connection keeps serving other streams.
            stream.Abort();
            await foreach (var _ in PingProtocol.PingAsync(connection, 3).WithCancellation(new CancellationTokenSource(Timeout).Token))
            {
            }
            var result = await PerfProtocol.RunAsync(connection, 1024, 1024).WaitAsync(Timeout);
            Assert.Equal(1024, result.DownloadBytes);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public async Task Server_GivenATruncatedSize_SendsNothingAndKeepsServing(int headerBytes)
    {
        var (hosts, connection) = await ConnectAsync();
        await using (hosts)
        {
            var stream = await connection.OpenStreamAsync(PerfProtocol.Id).AsTask().WaitAsync(Timeout);
            await stream.WriteAsync(new byte[headerBytes]).AsTask().WaitAsync(Timeout);
            await stream.CompleteWritesAsync().AsTask().WaitAsync(Timeout);
            var buffer = new byte[16];
            int n;
            try
            {
                n = await stream.ReadAsync(buffer).AsTask().WaitAsync(Timeout);
            }
            catch (P2PNet.Muxing.StreamResetException)
            {
                n = 0; // the handler's failure resets the stream
            }
            Assert.Equal(0, n);
            var result = await PerfProtocol.RunAsync(connection, 0, 10).WaitAsync(Timeout);
            Assert.Equal(10, result.DownloadBytes);
        }
    }
}
