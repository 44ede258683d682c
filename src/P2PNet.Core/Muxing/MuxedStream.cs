using System.IO.Pipelines;

namespace P2PNet.Muxing;

/// <summary>
/// One bidirectional stream of a multiplexed connection as a muxer implements it: the muxer's side of
/// <see cref="Host.P2PStream"/>, which is the only stream type applications see.
/// </summary>
/// <remarks>
/// The contract (half-close, reset, reads after the remote closed, writes after we closed, disposal, cancellation and
/// threading) is stated once, on <see cref="Host.P2PStream"/>; a muxer's stream implements exactly that contract and
/// <see cref="Host.P2PStream"/> forwards to it. This type exists for muxer implementers (<see cref="Upgrade.IMuxedSession"/>
/// returns it); applications never hold one: every host and connection API returns <see cref="Host.P2PStream"/>.
/// </remarks>
public abstract class MuxedStream : Stream, IDuplexPipe
{
    /// <summary>The stream's identifier within its connection.</summary>
    public abstract long StreamId { get; }

    /// <summary>See <see cref="Host.P2PStream.WriteAsync(ReadOnlyMemory{byte}, bool, CancellationToken)"/>.</summary>
    public abstract ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, bool completeWrites, CancellationToken cancellationToken = default);

    /// <summary>See <see cref="Host.P2PStream.CompleteWritesAsync"/>.</summary>
    public abstract ValueTask CompleteWritesAsync(CancellationToken cancellationToken = default);

    /// <summary>See <see cref="Host.P2PStream.Abort"/>.</summary>
    public abstract void Abort();

    /// <summary>See <see cref="Host.P2PStream.ReadsClosed"/>.</summary>
    public abstract Task ReadsClosed { get; }

    /// <summary>See <see cref="Host.P2PStream.WritesClosed"/>.</summary>
    public abstract Task WritesClosed { get; }

    /// <summary>See <see cref="Host.P2PStream.Input"/>.</summary>
    public abstract PipeReader Input { get; }

    /// <summary>See <see cref="Host.P2PStream.Output"/>.</summary>
    public abstract PipeWriter Output { get; }
}
