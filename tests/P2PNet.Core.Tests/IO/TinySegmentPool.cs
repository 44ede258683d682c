using System.Buffers;

namespace P2PNet.Core.Tests.IO;

/// <summary>A memory pool whose blocks are a few bytes long, so a <see cref="System.IO.Pipelines.Pipe"/> built on it
/// hands its reader multi-segment buffers even for short messages.</summary>
internal sealed class TinySegmentPool(int blockSize) : MemoryPool<byte>
{
    public override int MaxBufferSize => blockSize;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1) =>
        new Block(new byte[minBufferSize <= 0 ? blockSize : Math.Min(minBufferSize, blockSize)]);

    protected override void Dispose(bool disposing)
    {
    }

    private sealed class Block(byte[] array) : IMemoryOwner<byte>
    {
        public Memory<byte> Memory => array;

        public void Dispose()
        {
        }
    }
}
