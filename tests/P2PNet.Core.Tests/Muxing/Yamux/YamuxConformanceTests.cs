using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using P2PNet.Muxing;
using P2PNet.Muxing.Yamux;

namespace P2PNet.Core.Tests.Muxing;

/// <summary>
/// Stream-muxer behaviour every transport must preserve: run over in-memory pipes and over loopback TCP.
/// </summary>
public abstract class YamuxConformanceTests
{
    private static readonly TimeSpan Timeout = YamuxTest.Timeout;

    protected abstract Task<TransportPair> CreateTransportAsync();

    private async Task<YamuxSessionPair> StartAsync(YamuxOptions? options = null) =>
        YamuxSessionPair.Start(await CreateTransportAsync(), options);

    [Fact]
    public async Task OpenStream_WriteWithFin_PeerEchoesData()
    {
        await using YamuxSessionPair pair = await StartAsync();
        Task server = ServeEchoAsync(pair.Server, streams: 1);

        await using MuxedStream stream = await pair.Client.OpenStreamAsync().AsTask().WaitAsync(Timeout);
        byte[] message = "hello, yamux"u8.ToArray();
        await stream.WriteAsync(message, completeWrites: true).AsTask().WaitAsync(Timeout);

        Assert.Equal(message, await YamuxTest.ReadToEndAsync(stream));
        await server.WaitAsync(Timeout);
    }

    [Fact]
    public async Task StreamIds_AreOddFromTheDialerAndEvenFromTheListener()
    {
        await using YamuxSessionPair pair = await StartAsync();

        await using MuxedStream fromClient = await pair.Client.OpenStreamAsync().AsTask().WaitAsync(Timeout);
        await using MuxedStream fromServer = await pair.Server.OpenStreamAsync().AsTask().WaitAsync(Timeout);
        await using MuxedStream acceptedByServer = await pair.Server.AcceptStreamAsync().AsTask().WaitAsync(Timeout);
        await using MuxedStream acceptedByClient = await pair.Client.AcceptStreamAsync().AsTask().WaitAsync(Timeout);

        Assert.Equal(1, fromClient.StreamId % 2);
        Assert.Equal(0, fromServer.StreamId % 2);
        Assert.Equal(fromClient.StreamId, acceptedByServer.StreamId);
        Assert.Equal(fromServer.StreamId, acceptedByClient.StreamId);
    }

    [Fact]
    public async Task OneThousandConcurrentStreams_EachEchoesItsOwnData()
    {
        const int Streams = 1000;
        await using YamuxSessionPair pair = await StartAsync();
        Task server = ServeEchoAsync(pair.Server, Streams);

        await Task.WhenAll(Enumerable.Range(0, Streams).Select(async i =>
        {
            await using MuxedStream stream = await pair.Client.OpenStreamAsync();
            byte[] message = YamuxTest.RandomBytes(1024 + i, seed: i);
            await stream.WriteAsync(message, completeWrites: true);
            Assert.Equal(message, await YamuxTest.ReadToEndAsync(stream));
        })).WaitAsync(Timeout);

        await server.WaitAsync(Timeout);
        await YamuxTest.WaitUntilAsync(() => pair.Client.StreamCount == 0 && pair.Server.StreamCount == 0, "all streams left both sessions");
    }

    [Fact]
    public async Task LargeTransfer_64MiB_ArrivesIntact()
    {
        const int Total = 64 * 1024 * 1024;
        await using YamuxSessionPair pair = await StartAsync();

        Task<byte[]> received = Task.Run(async () =>
        {
            MuxedStream stream = await pair.Server.AcceptStreamAsync();
            return await HashInputToEndAsync(stream.Input);
        });

        await using MuxedStream stream = await pair.Client.OpenStreamAsync().AsTask().WaitAsync(Timeout);
        byte[] sent = await WriteRandomAsync(stream, Total, seed: 42).WaitAsync(Timeout);

        Assert.Equal(sent, await received.WaitAsync(Timeout));
    }

    [Fact]
    public async Task SlowReader_StallsTheWriter_AndBuffersNoMoreThanTheWindow()
    {
        const int Total = 8 * 1024 * 1024;
        var options = new YamuxOptions { StreamSendBufferSize = 64 * 1024 };
        await using YamuxSessionPair pair = await StartAsync(options);
        await using MuxedStream client = await pair.Client.OpenStreamAsync().AsTask().WaitAsync(Timeout);
        byte[] data = YamuxTest.RandomBytes(Total, seed: 3);

        Task write = client.WriteAsync(data, completeWrites: true).AsTask();
        var server = (YamuxStream)await pair.Server.AcceptStreamAsync().AsTask().WaitAsync(Timeout);

        // Nobody reads on the server: the writer must stall with no more than a window buffered at the receiver.
        Task settled = await Task.WhenAny(write, Task.Delay(TimeSpan.FromMilliseconds(500)));
        Assert.NotSame(write, settled);
        await YamuxTest.WaitUntilAsync(() => server.BufferedBytes == YamuxOptions.DefaultWindowSize, "the receive window is full");
        Assert.Equal(YamuxOptions.DefaultWindowSize, server.ReceiveWindow);

        // Reading everything releases the writer and delivers every byte.
        byte[] received = await YamuxTest.ReadToEndAsync(server);
        await write.WaitAsync(Timeout);
        Assert.Equal(data, received);
    }

    [Fact]
    public async Task BothDirectionsAtOnce_LargeTransfersComplete()
    {
        const int Total = 16 * 1024 * 1024;
        await using YamuxSessionPair pair = await StartAsync();
        await using MuxedStream client = await pair.Client.OpenStreamAsync().AsTask().WaitAsync(Timeout);
        await client.WriteAsync(new byte[] { 0 }).AsTask().WaitAsync(Timeout);
        await using MuxedStream server = await pair.Server.AcceptStreamAsync().AsTask().WaitAsync(Timeout);
        await YamuxTest.ReadExactlyAsync(server, 1);

        // Each side writes while the other writes too; neither read loop may wait on its own write loop.
        Task<byte[]> clientSent = WriteRandomAsync(client, Total, seed: 1);
        Task<byte[]> serverSent = WriteRandomAsync(server, Total, seed: 2);
        Task<byte[]> serverReceived = HashInputToEndAsync(server.Input);
        Task<byte[]> clientReceived = HashInputToEndAsync(client.Input);

        Assert.Equal(await clientSent.WaitAsync(Timeout), await serverReceived.WaitAsync(Timeout));
        Assert.Equal(await serverSent.WaitAsync(Timeout), await clientReceived.WaitAsync(Timeout));
    }

    [Fact]
    public async Task Dispose_WithoutReading_DiscardsIncomingDataAndLetsThePeerFinish()
    {
        const int Total = 2 * 1024 * 1024; // several windows: the sender finishes only if the window keeps coming back
        await using YamuxSessionPair pair = await StartAsync();
        await using MuxedStream client = await pair.Client.OpenStreamAsync().AsTask().WaitAsync(Timeout);
        await client.WriteAsync(new byte[] { 0 }).AsTask().WaitAsync(Timeout);
        MuxedStream server = await pair.Server.AcceptStreamAsync().AsTask().WaitAsync(Timeout);

        await server.DisposeAsync();

        Assert.Equal(0, await client.ReadAsync(new byte[1]).AsTask().WaitAsync(Timeout)); // the server's FIN
        await client.WriteAsync(new byte[Total], completeWrites: true).AsTask().WaitAsync(Timeout);
        await client.WritesClosed.WaitAsync(Timeout);
        await YamuxTest.WaitUntilAsync(() => pair.Client.StreamCount == 0 && pair.Server.StreamCount == 0, "the stream left both sessions");
    }

    [Fact]
    public async Task Dispose_FailsAReadPendingOnAnotherThread()
    {
        await using YamuxSessionPair pair = await StartAsync();
        MuxedStream client = await pair.Client.OpenStreamAsync().AsTask().WaitAsync(Timeout);
        Task<int> pendingRead = client.ReadAsync(new byte[1]).AsTask();

        await client.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => pendingRead.WaitAsync(Timeout));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => client.ReadAsync(new byte[1]).AsTask());
    }

    [Fact]
    public async Task HalfClose_EachDirectionClosesIndependently()
    {
        await using YamuxSessionPair pair = await StartAsync();
        await using MuxedStream client = await pair.Client.OpenStreamAsync().AsTask().WaitAsync(Timeout);
        await client.WriteAsync("request"u8.ToArray(), completeWrites: true).AsTask().WaitAsync(Timeout);
        await client.WritesClosed.WaitAsync(Timeout);

        await using MuxedStream server = await pair.Server.AcceptStreamAsync().AsTask().WaitAsync(Timeout);
        Assert.Equal("request"u8.ToArray(), await YamuxTest.ReadToEndAsync(server));
        await server.ReadsClosed.WaitAsync(Timeout);

        // The server can still answer after the client's FIN, and the client can still read.
        Assert.False(client.ReadsClosed.IsCompleted);
        await server.WriteAsync("response"u8.ToArray()).AsTask().WaitAsync(Timeout);
        Assert.Equal("response"u8.ToArray(), await YamuxTest.ReadExactlyAsync(client, 8));
        await server.CompleteWritesAsync().AsTask().WaitAsync(Timeout);

        Assert.Equal(0, await client.ReadAsync(new byte[16]).AsTask().WaitAsync(Timeout));
        await client.ReadsClosed.WaitAsync(Timeout);
        await Assert.ThrowsAsync<InvalidOperationException>(() => client.WriteAsync(new byte[1]).AsTask());
        await YamuxTest.WaitUntilAsync(() => pair.Client.StreamCount == 0 && pair.Server.StreamCount == 0, "the stream left both sessions");
    }

    [Fact]
    public async Task Reset_ByRemote_ThrowsStreamResetExceptionOnReader()
    {
        await using YamuxSessionPair pair = await StartAsync();
        await using MuxedStream client = await pair.Client.OpenStreamAsync().AsTask().WaitAsync(Timeout);
        await client.WriteAsync(new byte[] { 1 }).AsTask().WaitAsync(Timeout);
        await using MuxedStream server = await pair.Server.AcceptStreamAsync().AsTask().WaitAsync(Timeout);

        Task<int> pendingRead = client.ReadAsync(new byte[16]).AsTask();
        server.Abort();

        StreamResetException reset = await Assert.ThrowsAsync<StreamResetException>(() => pendingRead.WaitAsync(Timeout));
        Assert.True(reset.IsRemote);
        StreamResetException readsClosed = await Assert.ThrowsAsync<StreamResetException>(() => client.ReadsClosed.WaitAsync(Timeout));
        Assert.True(readsClosed.IsRemote);
        StreamResetException write = await Assert.ThrowsAsync<StreamResetException>(() => client.WriteAsync(new byte[] { 2 }).AsTask());
        Assert.True(write.IsRemote);
        await YamuxTest.WaitUntilAsync(() => pair.Client.StreamCount == 0 && pair.Server.StreamCount == 0, "the reset stream left both sessions");
    }

    [Fact]
    public async Task Reset_ByRemote_ThrowsStreamResetExceptionOnPendingWriter()
    {
        await using YamuxSessionPair pair = await StartAsync(new YamuxOptions { StreamSendBufferSize = 64 * 1024 });
        await using MuxedStream client = await pair.Client.OpenStreamAsync().AsTask().WaitAsync(Timeout);

        // More than window plus send buffer: the write stalls because the server does not read.
        Task write = client.WriteAsync(new byte[4 * 1024 * 1024]).AsTask();
        await using MuxedStream server = await pair.Server.AcceptStreamAsync().AsTask().WaitAsync(Timeout);
        Assert.NotSame(write, await Task.WhenAny(write, Task.Delay(TimeSpan.FromMilliseconds(200))));

        server.Abort();

        StreamResetException reset = await Assert.ThrowsAsync<StreamResetException>(() => write.WaitAsync(Timeout));
        Assert.True(reset.IsRemote);
        StreamResetException local = await Assert.ThrowsAsync<StreamResetException>(() => server.ReadAsync(new byte[1]).AsTask());
        Assert.False(local.IsRemote);
    }

    [Fact]
    public async Task Abort_Locally_FailsPendingReadWithIsRemoteFalse()
    {
        await using YamuxSessionPair pair = await StartAsync();
        await using MuxedStream client = await pair.Client.OpenStreamAsync().AsTask().WaitAsync(Timeout);

        Task<int> pendingRead = client.ReadAsync(new byte[16]).AsTask();
        client.Abort();

        StreamResetException reset = await Assert.ThrowsAsync<StreamResetException>(() => pendingRead.WaitAsync(Timeout));
        Assert.False(reset.IsRemote);
        await Assert.ThrowsAsync<StreamResetException>(() => client.WritesClosed.WaitAsync(Timeout));
        Assert.Equal(0, pair.Client.StreamCount);
    }

    [Fact]
    public async Task Abort_AfterThePeersFin_DiscardsBufferedDataAndFailsReads()
    {
        await using YamuxSessionPair pair = await StartAsync();
        await using MuxedStream client = await pair.Client.OpenStreamAsync().AsTask().WaitAsync(Timeout);
        await client.WriteAsync(new byte[] { 1, 2, 3 }, completeWrites: true).AsTask().WaitAsync(Timeout);
        await using MuxedStream server = await pair.Server.AcceptStreamAsync().AsTask().WaitAsync(Timeout);
        await server.ReadsClosed.WaitAsync(Timeout); // FIN arrived; three bytes wait unread

        server.Abort();

        StreamResetException reset = await Assert.ThrowsAsync<StreamResetException>(() => server.ReadAsync(new byte[3]).AsTask());
        Assert.False(reset.IsRemote);
        await YamuxTest.WaitUntilAsync(() => pair.Client.StreamCount == 0 && pair.Server.StreamCount == 0, "the reset stream left both sessions");
    }

    [Fact]
    public async Task Abort_AfterData_PeerSeesRemoteResetAfterAccepting()
    {
        await using YamuxSessionPair pair = await StartAsync();
        await using MuxedStream client = await pair.Client.OpenStreamAsync().AsTask().WaitAsync(Timeout);
        await client.WriteAsync(new byte[] { 1, 2, 3 }).AsTask().WaitAsync(Timeout);
        await using MuxedStream server = await pair.Server.AcceptStreamAsync().AsTask().WaitAsync(Timeout);

        client.Abort();

        StreamResetException reset = await Assert.ThrowsAsync<StreamResetException>(() => server.ReadsClosed.WaitAsync(Timeout));
        Assert.True(reset.IsRemote);
    }

    [Fact]
    public async Task OutputPipe_WritesAndCompletes_InputPipeReadsToEnd()
    {
        await using YamuxSessionPair pair = await StartAsync();
        await using MuxedStream client = await pair.Client.OpenStreamAsync().AsTask().WaitAsync(Timeout);

        byte[] data = YamuxTest.RandomBytes(300_000, seed: 11);
        Memory<byte> memory = client.Output.GetMemory(data.Length);
        data.CopyTo(memory);
        client.Output.Advance(data.Length);
        await client.Output.FlushAsync().AsTask().WaitAsync(Timeout);
        await client.Output.CompleteAsync().AsTask().WaitAsync(Timeout);

        await using MuxedStream server = await pair.Server.AcceptStreamAsync().AsTask().WaitAsync(Timeout);
        var received = new ArrayBufferWriter<byte>();
        while (true)
        {
            ReadResult result = await server.Input.ReadAsync().AsTask().WaitAsync(Timeout);
            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                received.Write(segment.Span);
            }

            server.Input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }

        Assert.Equal(data, received.WrittenSpan.ToArray());
        await client.WritesClosed.WaitAsync(Timeout);
    }

    [Fact]
    public async Task CloseAsync_ByPeer_MakesOpenAndAcceptThrowMuxerClosedException()
    {
        await using YamuxSessionPair pair = await StartAsync();
        await pair.Server.CloseAsync().AsTask().WaitAsync(Timeout);

        await Assert.ThrowsAsync<MuxerClosedException>(() => pair.Server.OpenStreamAsync().AsTask());
        await Assert.ThrowsAsync<MuxerClosedException>(() => pair.Server.AcceptStreamAsync().AsTask().WaitAsync(Timeout));
        await pair.Client.Completion.WaitAsync(Timeout);
        await Assert.ThrowsAsync<MuxerClosedException>(() => pair.Client.OpenStreamAsync().AsTask());
    }

    [Fact]
    public async Task SessionEnd_FailsStreamsStillOpen()
    {
        await using YamuxSessionPair pair = await StartAsync();
        await using MuxedStream client = await pair.Client.OpenStreamAsync().AsTask().WaitAsync(Timeout);
        Task<int> pendingRead = client.ReadAsync(new byte[1]).AsTask();

        await pair.Client.CloseAsync().AsTask().WaitAsync(Timeout);

        await Assert.ThrowsAsync<MuxerClosedException>(() => pendingRead.WaitAsync(Timeout));
        await Assert.ThrowsAsync<MuxerClosedException>(() => client.WriteAsync(new byte[1]).AsTask());
        Assert.Equal(0, pair.Client.StreamCount);
        await pair.Client.Completion.WaitAsync(Timeout);
    }

    [Fact]
    public async Task Ping_IsAnsweredWithARoundTripTime()
    {
        await using YamuxSessionPair pair = await StartAsync();

        TimeSpan rtt = await pair.Client.PingAsync().AsTask().WaitAsync(Timeout);

        Assert.True(rtt > TimeSpan.Zero);
        Assert.True(rtt < Timeout);
    }

    [Fact]
    public async Task StreamClosed_IsRaisedOncePerStream()
    {
        await using YamuxSessionPair pair = await StartAsync();
        var closed = new List<long>();
        pair.Client.StreamClosed += s =>
        {
            lock (closed)
            {
                closed.Add(s.StreamId);
            }
        };
        Task server = ServeEchoAsync(pair.Server, streams: 3);

        for (int i = 0; i < 3; i++)
        {
            await using MuxedStream stream = await pair.Client.OpenStreamAsync().AsTask().WaitAsync(Timeout);
            await stream.WriteAsync(new byte[] { (byte)i }, completeWrites: true).AsTask().WaitAsync(Timeout);
            await YamuxTest.ReadToEndAsync(stream);
        }

        await server.WaitAsync(Timeout);
        await YamuxTest.WaitUntilAsync(() => { lock (closed) { return closed.Count == 3; } }, "three streams closed");
        Assert.Equal([1L, 3L, 5L], closed.Order());
    }

    internal static Task ServeEchoAsync(YamuxSession server, int streams) =>
        Task.WhenAll(Enumerable.Range(0, streams).Select(async _ =>
        {
            await using MuxedStream stream = await server.AcceptStreamAsync();
            await stream.CopyToAsync(stream);
            await stream.CompleteWritesAsync();
        }));

    /// <summary>Writes <paramref name="total"/> pseudo-random bytes in 64 KiB writes, then FIN; returns their SHA-256.</summary>
    internal static async Task<byte[]> WriteRandomAsync(MuxedStream stream, int total, int seed)
    {
        var random = new Random(seed);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] chunk = new byte[64 * 1024];
        for (int sent = 0; sent < total; sent += chunk.Length)
        {
            random.NextBytes(chunk);
            hash.AppendData(chunk);
            await stream.WriteAsync(chunk);
        }

        await stream.CompleteWritesAsync();
        return hash.GetHashAndReset();
    }

    /// <summary>Reads <paramref name="input"/> to its end without copying; returns the SHA-256 of what arrived.</summary>
    internal static async Task<byte[]> HashInputToEndAsync(PipeReader input)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        while (true)
        {
            ReadResult result = await input.ReadAsync();
            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                hash.AppendData(segment.Span);
            }

            input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return hash.GetHashAndReset();
            }
        }
    }
}

public sealed class YamuxOverInMemoryPipesTests : YamuxConformanceTests
{
    protected override Task<TransportPair> CreateTransportAsync() => Task.FromResult(TestTransports.CreateInMemory());
}

public sealed class YamuxOverTcpTests : YamuxConformanceTests
{
    protected override Task<TransportPair> CreateTransportAsync() => TestTransports.CreateTcpAsync();
}
