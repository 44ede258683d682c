using System.IO.Pipelines;
using P2PNet.Crypto;

namespace P2PNet.Core.Tests.Security.Noise;

/// <summary>
/// Handshake messages that reach the reader in pieces: js-libp2p writes message 3's encrypted static key and its
/// payload separately, so the frame spans two pipe segments. A reader that read the frame's length after advancing
/// the pipe saw recycled segments and failed authentication (found in interop with js-libp2p).
/// </summary>
public sealed class NoiseFragmentationTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(50)]
    public async Task Handshake_WhenEveryChunkArrivesSeparately_Succeeds(int chunk)
    {
        // Small pool blocks make every frame span several pipe segments, as socket reads of split writes do.
        var options = new PipeOptions(pool: new P2PNet.Core.Tests.IO.TinySegmentPool(16), minimumSegmentSize: 16, useSynchronizationContext: false);
        var (initiator, initiatorFar) = TestPipes.CreatePair(options);
        var (responderFar, responder) = TestPipes.CreatePair(options);
        var forward = TrickleAsync(initiatorFar.Input, responderFar.Output, chunk);
        var backward = TrickleAsync(responderFar.Input, initiatorFar.Output, chunk);
        using var initiatorKey = PrivateKey.GenerateEd25519();
        using var responderKey = PrivateKey.GenerateEd25519();

        var (a, b) = await NoiseTestHarness.HandshakeAsync(initiator, responder, initiatorKey, responderKey);

        Assert.Equal(responderKey.PublicKey.ToPeerId(), a.RemotePeer);
        Assert.Equal(initiatorKey.PublicKey.ToPeerId(), b.RemotePeer);
        await a.Output.WriteAsync("hello"u8.ToArray()).AsTask().WaitAsync(NoiseTestHarness.Timeout);
        var read = await b.Input.ReadAtLeastAsync(5).AsTask().WaitAsync(NoiseTestHarness.Timeout);
        Assert.Equal("hello"u8.ToArray(), System.Buffers.BuffersExtensions.ToArray(read.Buffer.Slice(0, 5)));
        b.Input.AdvanceTo(read.Buffer.GetPosition(5));
        await a.DisposeAsync();
        await b.DisposeAsync();
        await Task.WhenAll(forward, backward).WaitAsync(NoiseTestHarness.Timeout);
    }

    /// <summary>Copies bytes across in chunks of <paramref name="chunk"/>, flushing each one on its own.</summary>
    private static async Task TrickleAsync(PipeReader from, PipeWriter to, int chunk)
    {
        try
        {
            while (true)
            {
                var result = await from.ReadAsync();
                foreach (var segment in result.Buffer)
                {
                    for (int offset = 0; offset < segment.Length; offset += chunk)
                    {
                        await to.WriteAsync(segment.Slice(offset, Math.Min(chunk, segment.Length - offset)));
                    }
                }
                from.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is InvalidOperationException or IOException)
        {
        }
        finally
        {
            await to.CompleteAsync();
            await from.CompleteAsync();
        }
    }
}
