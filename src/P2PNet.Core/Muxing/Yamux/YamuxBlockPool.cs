using System.Buffers;
using System.Collections.Concurrent;

namespace P2PNet.Muxing.Yamux;

/// <summary>
/// A process-wide pool of fixed-size blocks for the streams' send and receive pipes.
/// </summary>
/// <remarks>
/// <see cref="ArrayPool{T}.Shared"/> keeps only a few arrays per size and core, far fewer than the hundreds of segments a
/// busy session holds at once (a window's worth per stream), so under load most of its rents allocate and most returns are
/// dropped: measured, several hundred MB of garbage per 256 MiB moved over eight streams. This pool keeps up to
/// <see cref="MaxRetainedBlocks"/> blocks (16 MiB) and hands out the block object itself as the owner, so a rent from a warm
/// pool allocates nothing. Blocks are pinned (allocated on the pinned object heap), as long-lived I/O buffers should be.
/// </remarks>
internal sealed class YamuxBlockPool : MemoryPool<byte>
{
    /// <summary>The size of every block. The pipes ask for no more (<see cref="MaxBufferSize"/>); larger requests go to the array pool.</summary>
    public const int BlockSize = 16 * 1024;

    /// <summary>Blocks kept for reuse at most; beyond that, returned blocks are left to the garbage collector.</summary>
    public const int MaxRetainedBlocks = 1024;

    private readonly ConcurrentQueue<Block> _blocks = new();
    private int _retained;
    private long _outstanding;

    private YamuxBlockPool()
    {
    }

    /// <summary>The pool all yamux sessions share.</summary>
    public static YamuxBlockPool Instance { get; } = new();

    public override int MaxBufferSize => BlockSize;

    /// <summary>Blocks currently held for reuse (for tests).</summary>
    internal int RetainedBlocks => Volatile.Read(ref _retained);

    /// <summary>Blocks rented and not yet returned (for tests: a pipe whose halves are never both completed keeps its
    /// blocks from the pool for good).</summary>
    internal long OutstandingBlocks => Interlocked.Read(ref _outstanding);

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, BlockSize);
        Interlocked.Increment(ref _outstanding);
        if (_blocks.TryDequeue(out Block? block))
        {
            Interlocked.Decrement(ref _retained);
            return block;
        }

        return new Block(this);
    }

    private void Return(Block block)
    {
        Interlocked.Decrement(ref _outstanding);
        if (Interlocked.Increment(ref _retained) <= MaxRetainedBlocks)
        {
            _blocks.Enqueue(block);
        }
        else
        {
            Interlocked.Decrement(ref _retained);
        }
    }

    // Shared for the life of the process: nothing to release.
    protected override void Dispose(bool disposing)
    {
    }

    /// <summary>One block; it is its own owner, returned to the pool when the pipe disposes it.</summary>
    private sealed class Block(YamuxBlockPool pool) : IMemoryOwner<byte>
    {
        private readonly byte[] _array = GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true);

        public Memory<byte> Memory => _array;

        public void Dispose() => pool.Return(this);
    }
}
