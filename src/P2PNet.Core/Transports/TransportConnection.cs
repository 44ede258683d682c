using System.IO.Pipelines;
using P2PNet.Multiformats;

namespace P2PNet.Transports;

/// <summary>A raw, not yet secured connection: a duplex byte pipe with its two addresses.</summary>
/// <remarks>Completing <see cref="IDuplexPipe.Output"/> half-closes the connection (the remote reads end of stream).
/// <see cref="DisposeAsync"/> closes both directions and releases the socket.</remarks>
public abstract class TransportConnection : IDuplexPipe, IAsyncDisposable
{
    private const int MaxCachedPipeOptions = 8;

    private static volatile PipeOptions[] s_pipeOptions = [];

    private long _bytesReceived;
    private long _bytesSent;

    /// <summary>Bytes received from the network on this connection so far.</summary>
    public virtual long BytesReceived => Interlocked.Read(ref _bytesReceived);

    /// <summary>Bytes handed to the network on this connection so far.</summary>
    public virtual long BytesSent => Interlocked.Read(ref _bytesSent);

    /// <summary>A pipe that pauses its writer at <paramref name="maxBuffered"/> bytes and resumes at half (backpressure).</summary>
    /// <remarks>Pipes with the same limits share one <see cref="PipeOptions"/>: every connection has two such pipes, and
    /// an idle connection should not carry its own copies.</remarks>
    protected static Pipe CreateBoundedPipe(int maxBuffered, int minimumSegmentSize = -1) =>
        CreateBoundedPipe(maxBuffered, minimumSegmentSize, PipeScheduler.ThreadPool);

    private static Pipe CreateBoundedPipe(int maxBuffered, int minimumSegmentSize, PipeScheduler readerScheduler)
    {
        PipeOptions[] cache = s_pipeOptions;
        foreach (PipeOptions cached in cache)
        {
            if (cached.PauseWriterThreshold == maxBuffered && cached.ReaderScheduler == readerScheduler
                && (minimumSegmentSize < 0 ? cached.MinimumSegmentSize == PipeOptions.Default.MinimumSegmentSize : cached.MinimumSegmentSize == minimumSegmentSize))
            {
                return new Pipe(cached);
            }
        }

        var options = new PipeOptions(
            readerScheduler: readerScheduler,
            pauseWriterThreshold: maxBuffered,
            resumeWriterThreshold: maxBuffered / 2,
            minimumSegmentSize: minimumSegmentSize,
            useSynchronizationContext: false);
        if (cache.Length < MaxCachedPipeOptions)
        {
            // A lost race only drops one cached entry; the next pipe adds it again.
            s_pipeOptions = [.. cache, options];
        }

        return new Pipe(options);
    }

    /// <summary>A bounded pipe (as <see cref="CreateBoundedPipe(int, int)"/>) whose reader resumes on the flushing thread: the
    /// transport's own loop for its input, the layer above for its output (<see cref="Tcp.TcpTransportOptions.LowLatency"/>).
    /// </summary>
    internal static Pipe CreateInlinePipe(int maxBuffered, int minimumSegmentSize = -1) =>
        CreateBoundedPipe(maxBuffered, minimumSegmentSize, PipeScheduler.Inline);

    /// <summary>Implementations call this for every read from the network.</summary>
    protected void CountReceived(long bytes) => Interlocked.Add(ref _bytesReceived, bytes);

    /// <summary>Implementations call this for every write to the network.</summary>
    protected void CountSent(long bytes) => Interlocked.Add(ref _bytesSent, bytes);

    /// <summary>Bytes from the remote.</summary>
    public abstract PipeReader Input { get; }

    /// <summary>Bytes to the remote.</summary>
    public abstract PipeWriter Output { get; }

    /// <summary>Our end's address.</summary>
    public abstract Multiaddr LocalAddress { get; }

    /// <summary>The remote end's address as we see it.</summary>
    public abstract Multiaddr RemoteAddress { get; }

    /// <summary>Closes the connection abruptly (no graceful flush).</summary>
    public abstract void Abort();

    /// <summary>Closes the connection and waits for its I/O loops to finish.</summary>
    public abstract ValueTask DisposeAsync();
}
