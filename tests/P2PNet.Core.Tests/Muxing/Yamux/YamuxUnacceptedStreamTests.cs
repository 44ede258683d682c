using P2PNet.Muxing;
using P2PNet.Muxing.Yamux;

namespace P2PNet.Core.Tests.Muxing;

/// <summary>Runs alone: the block pool is shared by every yamux session in the process, and these tests count its
/// blocks.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class YamuxBlockPoolGroup
{
    public const string Name = "yamux block pool";
}

/// <summary>
/// A stream that ends while it waits to be accepted has no owner to dispose it. Its pipes must still give back the
/// pool's blocks its data arrived in. Before the fix, every short-lived connection whose peer had just opened a stream
/// (identify, most often) lost a pinned block to the garbage collector, and the pinned heap's growth forced full
/// collections.
/// </summary>
[Collection(YamuxBlockPoolGroup.Name)]
public sealed class YamuxUnacceptedStreamTests
{
    private static readonly TimeSpan Timeout = YamuxTest.Timeout;

    [Fact]
    public async Task SessionClosing_WithAStreamWaitingToBeAcceptedThatHoldsData_ReturnsItsBlocksToThePool()
    {
        long before = YamuxBlockPool.Instance.OutstandingBlocks;
        var pair = YamuxSessionPair.Start(TestTransports.CreateInMemory());
        await using (MuxedStream client = await pair.Client.OpenStreamAsync().AsTask().WaitAsync(Timeout))
        {
            await client.WriteAsync(new byte[100]).AsTask().WaitAsync(Timeout);
            await YamuxTest.WaitUntilAsync(() => pair.Server.StreamCount == 1, "the stream reached the listener");
        }
        await pair.DisposeAsync(); // the listener never accepted it

        await YamuxTest.WaitUntilAsync(
            () => YamuxBlockPool.Instance.OutstandingBlocks <= before,
            $"the pool's blocks came back ({YamuxBlockPool.Instance.OutstandingBlocks - before} still out)");
    }

    [Fact]
    public async Task StreamResetByThePeer_WhileWaitingToBeAccepted_ReturnsItsBlocksToThePool()
    {
        long before = YamuxBlockPool.Instance.OutstandingBlocks;
        await using (var pair = YamuxSessionPair.Start(TestTransports.CreateInMemory()))
        {
            MuxedStream client = await pair.Client.OpenStreamAsync().AsTask().WaitAsync(Timeout);
            await client.WriteAsync(new byte[100]).AsTask().WaitAsync(Timeout);
            await YamuxTest.WaitUntilAsync(() => pair.Server.StreamCount == 1, "the stream reached the listener");
            client.Abort();
            await YamuxTest.WaitUntilAsync(() => pair.Server.StreamCount == 0, "the reset reached the listener");
            await client.DisposeAsync();

            // The session goes on: the next stream is accepted as usual.
            await using MuxedStream next = await pair.Client.OpenStreamAsync().AsTask().WaitAsync(Timeout);
            await next.WriteAsync(new byte[] { 7 }, completeWrites: true).AsTask().WaitAsync(Timeout);
            await using MuxedStream accepted = await pair.Server.AcceptStreamAsync().AsTask().WaitAsync(Timeout);
            Assert.Equal(new byte[] { 7 }, await YamuxTest.ReadToEndAsync(accepted));
        }

        await YamuxTest.WaitUntilAsync(
            () => YamuxBlockPool.Instance.OutstandingBlocks <= before,
            $"the pool's blocks came back ({YamuxBlockPool.Instance.OutstandingBlocks - before} still out)");
    }
}
