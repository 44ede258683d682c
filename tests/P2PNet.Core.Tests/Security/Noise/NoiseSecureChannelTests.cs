using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using P2PNet.Crypto;
using P2PNet.Security.Noise;

namespace P2PNet.Core.Tests.Security.Noise;

public sealed class NoiseSecureChannelTests : IDisposable
{
    private static readonly TimeSpan Timeout = NoiseTestHarness.Timeout;
    private readonly PrivateKey _initiatorKey = PrivateKey.GenerateEd25519();
    private readonly PrivateKey _responderKey = PrivateKey.GenerateEd25519();

    public void Dispose()
    {
        _initiatorKey.Dispose();
        _responderKey.Dispose();
    }

    [Fact]
    public async Task Channel_Transfers64MiBBothWaysAtOnce_Intact()
    {
        const long Size = 64L * 1024 * 1024;
        var (left, right) = TestPipes.CreatePair();
        var (initiator, responder) = await NoiseTestHarness.HandshakeAsync(left, right, _initiatorKey, _responderKey);
        await using (initiator)
        await using (responder)
        {
            var sending = NoiseTestHarness.WriteRandomAsync(initiator.Output, Size, seed: 11);
            var answering = NoiseTestHarness.WriteRandomAsync(responder.Output, Size, seed: 12);
            var receivedByResponder = NoiseTestHarness.ReadAllAsync(responder.Input);
            var receivedByInitiator = NoiseTestHarness.ReadAllAsync(initiator.Input);
            await Task.WhenAll(sending, answering, receivedByResponder, receivedByInitiator).WaitAsync(TimeSpan.FromMinutes(2));
            NoiseTestHarness.AssertSame(Size, await sending, await receivedByResponder);
            NoiseTestHarness.AssertSame(Size, await answering, await receivedByInitiator);
            await Task.WhenAll(initiator.Completion, responder.Completion).WaitAsync(Timeout);
        }
    }

    [Fact]
    public async Task Channel_OnTheWire_FramesStayWithin65535BytesAndBulkDataUsesFullFrames()
    {
        const long Size = 10L * 1024 * 1024;
        var lengths = new ConcurrentQueue<int>();
        var (initiatorTransport, responderTransport, relays) = FrameRelay.Connect(initiatorToResponder: (index, frame) =>
        {
            int declared = BinaryPrimitives.ReadUInt16BigEndian(frame);
            Assert.Equal(frame.Length - 2, declared);
            lengths.Enqueue(declared);
            return (frame, false);
        });
        var (initiator, responder) = await NoiseTestHarness.HandshakeAsync(initiatorTransport, responderTransport, _initiatorKey, _responderKey);
        await using (initiator)
        await using (responder)
        {
            var sending = NoiseTestHarness.WriteRandomAsync(initiator.Output, Size, seed: 3);
            var received = await NoiseTestHarness.ReadAllAsync(responder.Input).WaitAsync(Timeout);
            NoiseTestHarness.AssertSame(Size, await sending, received);
        }
        await relays.WaitAsync(Timeout);

        int[] transportFrames = lengths.Skip(2).ToArray(); // after handshake messages 1 and 3
        Assert.All(transportFrames, length => Assert.InRange(length, 16, 65535));
        Assert.Equal(Size, transportFrames.Sum(length => (long)(length - 16)));
        // Batching: nearly every frame is full-size; short frames only end a batch of available plaintext.
        int full = transportFrames.Count(length => length == 65535);
        Assert.True(full >= Size / 65519 * 3 / 4, $"{full} of {transportFrames.Length} frames are full-size.");
    }

    [Fact]
    public async Task Channel_WithAFlippedCiphertextBit_FaultsTheReaderAndClosesTheChannel()
    {
        var (initiatorTransport, responderTransport, relays) = FrameRelay.Connect(initiatorToResponder: (index, frame) =>
        {
            if (index == 2)
            {
                frame[10] ^= 0x04; // inside the ciphertext of the first transport frame
            }
            return (frame, false);
        });
        var (initiator, responder) = await NoiseTestHarness.HandshakeAsync(initiatorTransport, responderTransport, _initiatorKey, _responderKey);
        await using (initiator)
        await using (responder)
        {
            await initiator.Output.WriteAsync("tampered with on the way"u8.ToArray()).AsTask().WaitAsync(Timeout);

            var error = await Assert.ThrowsAsync<ProtocolViolationException>(async () =>
            {
                while (true)
                {
                    ReadResult result = await responder.Input.ReadAsync().AsTask().WaitAsync(Timeout);
                    responder.Input.AdvanceTo(result.Buffer.End);
                    Assert.False(result.IsCompleted, "The input ended cleanly instead of faulting.");
                }
            });
            Assert.Contains("decryption failed", error.Message, StringComparison.Ordinal);
            await responder.Completion.WaitAsync(Timeout);

            // Torn down: the responder can no longer send, and the initiator's input ends.
            // The responder's own send fails with the fault that closed it; the initiator's input ends without data.
            await Assert.ThrowsAsync<ProtocolViolationException>(() => responder.Output.WriteAsync("after"u8.ToArray()).AsTask().WaitAsync(Timeout));
            ReadResult ended = await initiator.Input.ReadAsync().AsTask().WaitAsync(Timeout);
            Assert.True(ended.IsCompleted, "The initiator's input did not end after the responder closed.");
            Assert.True(ended.Buffer.IsEmpty);
        }
        await relays.WaitAsync(Timeout);
    }

    [Fact]
    public async Task Channel_WhenTheTransportEndsInsideAFrame_FaultsTheReader()
    {
        var (initiatorTransport, responderTransport, relays) = FrameRelay.Connect(initiatorToResponder: (index, frame) =>
            index == 2 ? (frame[..10], true) : (frame, false));
        var (initiator, responder) = await NoiseTestHarness.HandshakeAsync(initiatorTransport, responderTransport, _initiatorKey, _responderKey);
        await using (initiator)
        await using (responder)
        {
            await initiator.Output.WriteAsync(new byte[1000]).AsTask().WaitAsync(Timeout);
            var error = await Assert.ThrowsAsync<ProtocolViolationException>(async () =>
            {
                ReadResult result = await responder.Input.ReadAsync().AsTask().WaitAsync(Timeout);
                Assert.Fail($"Read {result.Buffer.Length} bytes from a truncated frame.");
            });
            Assert.Contains("middle of a Noise frame", error.Message, StringComparison.Ordinal);
        }
        await relays.WaitAsync(Timeout);
    }

    [Fact]
    public async Task Channel_CompletingOutput_EndsTheRemoteInputWhileTheOtherDirectionKeepsWorking()
    {
        var (left, right) = TestPipes.CreatePair();
        var (initiator, responder) = await NoiseTestHarness.HandshakeAsync(left, right, _initiatorKey, _responderKey);
        await using (initiator)
        await using (responder)
        {
            await initiator.Output.WriteAsync("request"u8.ToArray()).AsTask().WaitAsync(Timeout);
            await initiator.Output.CompleteAsync().AsTask().WaitAsync(Timeout);
            Assert.Equal("request"u8.ToArray(), await TestPipes.ReadToEndAsync(responder.Input));

            await responder.Output.WriteAsync("response"u8.ToArray()).AsTask().WaitAsync(Timeout);
            await responder.Output.CompleteAsync().AsTask().WaitAsync(Timeout);
            Assert.Equal("response"u8.ToArray(), await TestPipes.ReadToEndAsync(initiator.Input));
            await Task.WhenAll(initiator.Completion, responder.Completion).WaitAsync(Timeout);
        }
    }

    [Fact]
    public async Task Channel_DisposeAsync_SendsPendingDataAndEndsBothLoops()
    {
        var (left, right) = TestPipes.CreatePair();
        var (initiator, responder) = await NoiseTestHarness.HandshakeAsync(left, right, _initiatorKey, _responderKey);
        initiator.Output.Write("last words"u8);
        await initiator.DisposeAsync().AsTask().WaitAsync(Timeout);
        Assert.True(initiator.Completion.IsCompletedSuccessfully);
        Assert.Equal("last words"u8.ToArray(), await TestPipes.ReadToEndAsync(responder.Input));
        await responder.DisposeAsync().AsTask().WaitAsync(Timeout);
        await initiator.DisposeAsync().AsTask().WaitAsync(Timeout); // idempotent
    }

    [Fact]
    public async Task Channel_DisposeAsync_EndsAReadThatIsStillPending()
    {
        var (left, right) = TestPipes.CreatePair();
        var (initiator, responder) = await NoiseTestHarness.HandshakeAsync(left, right, _initiatorKey, _responderKey);
        var reading = responder.Input.ReadAsync().AsTask();
        await responder.DisposeAsync().AsTask().WaitAsync(Timeout);
        ReadResult result = await reading.WaitAsync(Timeout);
        Assert.True(result.IsCompleted); // and the pipe is now completed: the application must not touch it again
        await initiator.DisposeAsync().AsTask().WaitAsync(Timeout);
    }

    [Fact]
    public async Task Channel_DisposeAsync_WithUnreadDataBeyondTheThreshold_DoesNotHang()
    {
        var (left, right) = TestPipes.CreatePair();
        var (initiator, responder) = await NoiseTestHarness.HandshakeAsync(left, right, _initiatorKey, _responderKey);
        var chunk = new byte[256 * 1024];
        var writing = Task.Run(async () =>
        {
            for (int i = 0; i < 64; i++)
            {
                if ((await initiator.Output.WriteAsync(chunk)).IsCompleted)
                {
                    return;
                }
            }
        });
        // Wait (examining, never consuming) until the responder's Input holds a full pause threshold: its decrypt loop
        // is then paused on a full Input. Disposing must still finish.
        while (true)
        {
            ReadResult unread = await responder.Input.ReadAsync().AsTask().WaitAsync(Timeout);
            responder.Input.AdvanceTo(unread.Buffer.Start, unread.Buffer.End);
            if (unread.Buffer.Length >= NoiseSecureChannel.PauseThreshold)
            {
                break;
            }
        }
        await responder.DisposeAsync().AsTask().WaitAsync(Timeout);
        Assert.True(responder.Completion.IsCompletedSuccessfully);
        // The initiator's writes fail once the responder is gone, and its input ends cleanly.
        await Assert.ThrowsAsync<IOException>(() => writing.WaitAsync(Timeout));
        await Assert.ThrowsAsync<IOException>(() => initiator.Output.WriteAsync(chunk).AsTask().WaitAsync(Timeout));
        ReadResult ended = await initiator.Input.ReadAsync().AsTask().WaitAsync(Timeout);
        Assert.True(ended.IsCompleted, "The initiator's input did not end after the responder was disposed.");
        await initiator.DisposeAsync().AsTask().WaitAsync(Timeout);
    }

    [Fact]
    public async Task Channel_WithASlowReader_HoldsTheWriterBackInsteadOfBuffering()
    {
        var (left, right) = TestPipes.CreatePair();
        var (initiator, responder) = await NoiseTestHarness.HandshakeAsync(left, right, _initiatorKey, _responderKey);
        await using (initiator)
        await using (responder)
        {
            long written = 0;
            var chunk = new byte[64 * 1024];
            var writing = Task.Run(async () =>
            {
                for (int i = 0; i < 512; i++) // 32 MiB
                {
                    await initiator.Output.WriteAsync(chunk).AsTask().WaitAsync(Timeout);
                    Interlocked.Add(ref written, chunk.Length);
                }
                await initiator.Output.CompleteAsync().AsTask().WaitAsync(Timeout);
            });
            // Nobody reads: the writer must stall after the pipes' thresholds (a few MiB), far below 32 MiB.
            await Task.WhenAny(writing, Task.Delay(TimeSpan.FromMilliseconds(500)));
            Assert.False(writing.IsCompleted);
            Assert.InRange(Interlocked.Read(ref written), 0, 8 * 1024 * 1024);

            var (length, _) = await NoiseTestHarness.ReadAllAsync(responder.Input).WaitAsync(Timeout);
            Assert.Equal(512L * chunk.Length, length);
            await writing.WaitAsync(Timeout);
        }
    }
}
