using System.IO.Pipelines;
using FsCheck;
using FsCheck.Fluent;
using P2PNet.IO;
using P2PNet.Multiformats;

namespace P2PNet.Core.Tests.IO;

public sealed class LengthPrefixedPipeTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    private static Pipe NewPipe(int blockSize = 8) =>
        new(new PipeOptions(pool: new TinySegmentPool(blockSize), minimumSegmentSize: blockSize, pauseWriterThreshold: 0, useSynchronizationContext: false));

    private static Task<byte[]?> Read(Pipe pipe, int maxSize = 1 << 16, CancellationToken cancellationToken = default) =>
        // The token goes to ReadAsync only: the test checks that ReadAsync itself honours it.
        LengthPrefixed.ReadAsync(pipe.Reader, maxSize, cancellationToken).AsTask().WaitAsync(Timeout, CancellationToken.None);

    private static async Task Feed(PipeWriter writer, byte[] data, int[] chunkSizes)
    {
        int offset = 0;
        for (int i = 0; offset < data.Length; i++)
        {
            int size = Math.Min(chunkSizes[i % chunkSizes.Length], data.Length - offset);
            await writer.WriteAsync(data.AsMemory(offset, size)).AsTask().WaitAsync(Timeout);
            offset += size;
        }
    }

    [Fact]
    public async Task TestPipe_HandsTheReaderMultiSegmentBuffers()
    {
        // The premise of the tests below: a message larger than a block arrives in several segments.
        var pipe = NewPipe();
        await pipe.Writer.WriteAsync(new byte[20]).AsTask().WaitAsync(Timeout);
        var result = await pipe.Reader.ReadAsync().AsTask().WaitAsync(Timeout);
        Assert.False(result.Buffer.IsSingleSegment);
        Assert.Equal(20, result.Buffer.Length);
        pipe.Reader.AdvanceTo(result.Buffer.End);
    }

    [Fact]
    public async Task ReadAsync_MessagesFedInChunks_ReadsEachMessageThenNullAtTheEnd()
    {
        var gen =
            from messages in Gen.ListOf(Gen.Choose(0, 40).SelectMany(n => Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>(), n)))
            from chunks in Gen.NonEmptyListOf(Gen.Choose(1, 7))
            select (Messages: messages.ToArray(), Chunks: chunks.ToArray());
        foreach (var (messages, chunks) in gen.Sample(60))
        {
            var pipe = NewPipe();
            Task feeding = Task.Run(async () =>
            {
                await Feed(pipe.Writer, LengthPrefixedTests.Frame(messages), chunks);
                await pipe.Writer.CompleteAsync();
            });

            foreach (var expected in messages)
            {
                Assert.Equal(expected, await Read(pipe));
            }
            Assert.Null(await Read(pipe));
            await feeding.WaitAsync(Timeout);
        }
    }

    [Fact]
    public async Task ReadAsync_EveryByteInItsOwnWrite_ReadsTheSameMessages()
    {
        byte[][] messages = [[], [1], new byte[130], [.. Enumerable.Range(0, 50).Select(i => (byte)i)]];
        byte[] data = LengthPrefixedTests.Frame(messages);
        for (int cut = 0; cut <= data.Length; cut++)
        {
            var pipe = NewPipe(blockSize: 3);
            await Feed(pipe.Writer, data[..cut], [1]);
            Task rest = Task.Run(async () =>
            {
                await Feed(pipe.Writer, data[cut..], [1]);
                await pipe.Writer.CompleteAsync();
            });
            foreach (var expected in messages)
            {
                Assert.Equal(expected, await Read(pipe));
            }
            Assert.Null(await Read(pipe));
            await rest.WaitAsync(Timeout);
        }
    }

    [Fact]
    public async Task ReadAsync_WriterCompletesMidMessage_ThrowsWireFormatException()
    {
        var pipe = NewPipe();
        await pipe.Writer.WriteAsync(new byte[] { 0x05, 1, 2 }).AsTask().WaitAsync(Timeout);
        await pipe.Writer.CompleteAsync();

        var e = await Assert.ThrowsAsync<WireFormatException>(() => Read(pipe));
        Assert.Contains("ended inside", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadAsync_WriterCompletesMidLengthPrefix_ThrowsWireFormatException()
    {
        var pipe = NewPipe();
        await pipe.Writer.WriteAsync(new byte[] { 0x80 }).AsTask().WaitAsync(Timeout);
        await pipe.Writer.CompleteAsync();

        await Assert.ThrowsAsync<WireFormatException>(() => Read(pipe));
    }

    [Fact]
    public async Task ReadAsync_WriterCompletesAfterLaterPart_ReadsTheMessageThenThrows()
    {
        var pipe = NewPipe();
        await pipe.Writer.WriteAsync(LengthPrefixedTests.Frame([7, 7], [8, 8, 8]).AsMemory(..^1)).AsTask().WaitAsync(Timeout);
        await pipe.Writer.CompleteAsync();

        Assert.Equal(new byte[] { 7, 7 }, await Read(pipe));
        await Assert.ThrowsAsync<WireFormatException>(() => Read(pipe));
    }

    [Fact]
    public async Task ReadAsync_OversizeLength_IsRefusedBeforeTheBodyArrives()
    {
        var pipe = NewPipe();
        // Only the length prefix is sent, and the writer stays open: the reader must not wait for 1 MiB.
        await pipe.Writer.WriteAsync(Varint.Encode(1 << 20)).AsTask().WaitAsync(Timeout);

        var e = await Assert.ThrowsAsync<WireFormatException>(() => Read(pipe, maxSize: 1024));
        Assert.Contains("exceeds", e.Message, StringComparison.Ordinal);
        await pipe.Writer.CompleteAsync();
    }

    [Fact]
    public async Task ReadAsync_MalformedLengthPrefix_ThrowsWireFormatExceptionWithoutWaiting()
    {
        var pipe = NewPipe();
        await pipe.Writer.WriteAsync(new byte[] { 0x80, 0x00 }).AsTask().WaitAsync(Timeout);

        await Assert.ThrowsAsync<WireFormatException>(() => Read(pipe));
        await pipe.Writer.CompleteAsync();
    }

    [Fact]
    public async Task ReadAsync_NothingBeforeTheEnd_ReturnsNull()
    {
        var pipe = NewPipe();
        await pipe.Writer.CompleteAsync();
        Assert.Null(await Read(pipe));
    }

    [Fact]
    public async Task ReadAsync_Cancelled_ThrowsOperationCanceled()
    {
        var pipe = NewPipe();
        using var cts = new CancellationTokenSource();
        var reading = Read(pipe, cancellationToken: cts.Token);
        await pipe.Writer.WriteAsync(new byte[] { 0x03, 1 }).AsTask().WaitAsync(Timeout);
        Assert.False(reading.IsCompleted);

        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reading);
        await pipe.Writer.CompleteAsync();
    }

    [Fact]
    public async Task ReadAsync_PendingReadCancelled_ThrowsOperationCanceled()
    {
        var pipe = NewPipe();
        var reading = Read(pipe);
        pipe.Reader.CancelPendingRead();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reading);
        await pipe.Writer.CompleteAsync();
    }

    [Fact]
    public async Task WriteAsyncThenReadAsync_OverAPipe_RoundTrips()
    {
        var pipe = NewPipe(blockSize: 5);
        byte[][] messages = [[1, 2, 3], [], new byte[1000]];
        foreach (var message in messages)
        {
            await LengthPrefixed.WriteAsync(pipe.Writer, message).AsTask().WaitAsync(Timeout);
        }
        await pipe.Writer.CompleteAsync();

        foreach (var expected in messages)
        {
            Assert.Equal(expected, await Read(pipe));
        }
        Assert.Null(await Read(pipe));
    }
}
