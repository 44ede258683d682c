using System.Buffers;

namespace P2PNet.Core.Tests.IO;

/// <summary>Builds <see cref="ReadOnlySequence{T}"/>s made of several segments, to test that streamed parsers
/// give the same answer wherever the input happens to be split.</summary>
internal static class SequenceSegments
{
    /// <summary>The bytes split at the given offsets (ascending, each within the data), one segment per piece.
    /// Empty pieces are kept as empty segments, which real pipes can also produce.</summary>
    public static ReadOnlySequence<byte> Split(ReadOnlySpan<byte> data, params int[] cuts)
    {
        var pieces = new List<byte[]>();
        int start = 0;
        foreach (int cut in cuts)
        {
            if (cut < start || cut > data.Length)
            {
                throw new ArgumentOutOfRangeException(nameof(cuts), "Cuts must be ascending offsets within the data.");
            }
            pieces.Add(data[start..cut].ToArray());
            start = cut;
        }
        pieces.Add(data[start..].ToArray());
        return FromPieces(pieces);
    }

    /// <summary>One segment per byte.</summary>
    public static ReadOnlySequence<byte> OneBytePerSegment(ReadOnlySpan<byte> data) =>
        Split(data, Enumerable.Range(1, Math.Max(0, data.Length - 1)).ToArray());

    /// <summary>The data split in two at every offset from 0 to its length, plus one byte per segment.</summary>
    public static IEnumerable<ReadOnlySequence<byte>> EverySplit(byte[] data)
    {
        for (int cut = 0; cut <= data.Length; cut++)
        {
            yield return Split(data, cut);
        }
        yield return OneBytePerSegment(data);
    }

    /// <summary>A sequence whose segments are the given arrays, in order.</summary>
    public static ReadOnlySequence<byte> FromPieces(IReadOnlyList<byte[]> pieces)
    {
        if (pieces.Count == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }
        var first = new Segment(pieces[0], 0);
        var last = first;
        for (int i = 1; i < pieces.Count; i++)
        {
            last = last.Append(pieces[i]);
        }
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
