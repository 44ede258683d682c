using System.Buffers;
using System.IO.Pipelines;
using P2PNet.Testing.IO;

namespace P2PNet.Core.Tests;

/// <summary>A duplex pipe made of any reader and writer.</summary>
internal sealed record DuplexPipe(PipeReader Input, PipeWriter Output) : IDuplexPipe;

/// <summary>Test plumbing shared by the multistream and Noise tests.</summary>
internal static class TestPipes
{
    /// <summary>The upper bound of any single await in these tests.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>Two cross-wired in-memory pipes: what one side writes, the other reads.</summary>
    public static (IDuplexPipe Left, IDuplexPipe Right) CreatePair(PipeOptions? options = null)
    {
        var leftToRight = new Pipe(options ?? PipeOptions.Default);
        var rightToLeft = new Pipe(options ?? PipeOptions.Default);
        return (new DuplexPipe(rightToLeft.Reader, leftToRight.Writer), new DuplexPipe(leftToRight.Reader, rightToLeft.Writer));
    }

    /// <summary>The bytes as a sequence of segments cut at <paramref name="offsets"/>.</summary>
    public static ReadOnlySequence<byte> Segmented(byte[] data, params int[] offsets) => SequenceSegments.SplitAt(data, offsets);

    /// <summary>Reads everything available until the writer completes.</summary>
    public static async Task<byte[]> ReadToEndAsync(PipeReader reader)
    {
        var all = new ArrayBufferWriter<byte>();
        while (true)
        {
            ReadResult result = await reader.ReadAsync().AsTask().WaitAsync(Timeout);
            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                all.Write(segment.Span);
            }
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return all.WrittenSpan.ToArray();
            }
        }
    }
}
