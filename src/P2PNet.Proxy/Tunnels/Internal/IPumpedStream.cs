using System.IO.Pipelines;

namespace P2PNet.Proxy.Tunnels.Internal;

/// <summary>The stream end of a <see cref="SocketStreamPump"/>: a duplex byte stream that half-closes and resets.</summary>
internal interface IPumpedStream : IAsyncDisposable
{
    /// <summary>Bytes from the far end; completes at its half-close, throws (an <see cref="IOException"/> or a muxer
    /// error) at its reset.</summary>
    PipeReader Input { get; }

    /// <summary>Bytes to the far end.</summary>
    PipeWriter Output { get; }

    /// <summary>Half-closes: the far end reads the end of the stream after what was written.</summary>
    ValueTask CompleteWritesAsync(CancellationToken cancellationToken);

    /// <summary>Resets both directions; the far end sees an error, not an end.</summary>
    void Abort();
}
