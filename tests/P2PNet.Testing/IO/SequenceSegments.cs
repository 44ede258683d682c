using System.Buffers;

namespace P2PNet.Testing.IO;

/// <summary>Builds <see cref="ReadOnlySequence{T}"/>s made of several segments, to test that streamed parsers
/// give the same answer wherever the input happens to be split. The one segment builder of the tests: codec, framing
/// and handshake tests all build their split inputs here.</summary>
public static class SequenceSegments
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

    /// <summary>The bytes split at the given offsets, in any order: offsets outside (0, length) and repeats are
    /// ignored, so no piece is empty (a single offset-free piece is a single-segment sequence).</summary>
    public static ReadOnlySequence<byte> SplitAt(byte[] data, IEnumerable<int> offsets)
    {
        ArgumentNullException.ThrowIfNull(data);
        var cuts = offsets.Where(o => o > 0 && o < data.Length).Distinct().Order().ToArray();
        return cuts.Length == 0 ? new ReadOnlySequence<byte>(data) : Split(data, cuts);
    }

    /// <summary>A sequence whose segments are the given arrays, in order.</summary>
    public static ReadOnlySequence<byte> FromPieces(IReadOnlyList<byte[]> pieces) =>
        FromMemory(pieces.Select(p => (ReadOnlyMemory<byte>)p).ToArray());

    /// <summary>A sequence whose segments are the given memory blocks, in order (no copy).</summary>
    public static ReadOnlySequence<byte> FromMemory(params ReadOnlyMemory<byte>[] pieces)
    {
        ArgumentNullException.ThrowIfNull(pieces);
        if (pieces.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }
        var first = new Segment(pieces[0], 0);
        var last = first;
        for (int i = 1; i < pieces.Length; i++)
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
