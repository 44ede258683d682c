using System.IO.Pipelines;
using P2PNet.Muxing;
using P2PNet.Peers;

namespace P2PNet.Host;

/// <summary>
/// A stream to a peer on a negotiated protocol: a .NET <see cref="Stream"/> and an <see cref="IDuplexPipe"/> over the
/// same bytes (use one or the other for each direction).
/// </summary>
/// <remarks>
/// One reader and one writer may use the stream concurrently. <see cref="CompleteWritesAsync"/> half-closes (the
/// remote reads end of stream; we can still read). <see cref="Abort"/> resets both directions: the remote's reads and
/// writes then throw <see cref="StreamResetException"/>. Disposing half-closes our side if it is still open and
/// releases the stream.
/// </remarks>
public sealed class P2PStream : Stream, IDuplexPipe
{
    private readonly MuxedStream _inner;
    private readonly Action<P2PStream>? _onDisposed;
    private int _disposed;

    internal P2PStream(MuxedStream inner, string protocol, P2PConnection connection, Action<P2PStream>? onDisposed = null)
    {
        _inner = inner;
        Protocol = protocol;
        Connection = connection;
        _onDisposed = onDisposed;
    }

    /// <summary>The protocol negotiated for this stream, e.g. <c>/ipfs/ping/1.0.0</c>.</summary>
    public string Protocol { get; }

    /// <summary>The connection carrying the stream.</summary>
    public P2PConnection Connection { get; }

    /// <summary>The peer at the other end.</summary>
    public PeerId RemotePeer => Connection.RemotePeer;

    /// <summary>The muxer's id of this stream.</summary>
    public long StreamId => _inner.StreamId;

    /// <summary>Incoming bytes as a pipe.</summary>
    public PipeReader Input => _inner.Input;

    /// <summary>Outgoing bytes as a pipe (flush to send).</summary>
    public PipeWriter Output => _inner.Output;

    /// <summary>Completes when the remote half-closed; faults if the stream was reset.</summary>
    public Task ReadsClosed => _inner.ReadsClosed;

    /// <summary>Completes when our half-close was sent; faults if the stream was reset.</summary>
    public Task WritesClosed => _inner.WritesClosed;

    /// <summary>Writes <paramref name="buffer"/> and, when <paramref name="completeWrites"/> is set, half-closes after it.</summary>
    public ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, bool completeWrites, CancellationToken cancellationToken = default) =>
        _inner.WriteAsync(buffer, completeWrites, cancellationToken);

    /// <summary>Half-closes: the remote reads end of stream after what we wrote.</summary>
    public ValueTask CompleteWritesAsync(CancellationToken cancellationToken = default) => _inner.CompleteWritesAsync(cancellationToken);

    /// <summary>Resets the stream in both directions.</summary>
    public void Abort() => _inner.Abort();

    /// <inheritdoc />
    public override bool CanRead => true;

    /// <inheritdoc />
    public override bool CanWrite => true;

    /// <inheritdoc />
    public override bool CanSeek => false;

    /// <inheritdoc />
    public override long Length => throw new NotSupportedException("A network stream has no length.");

    /// <inheritdoc />
    public override long Position
    {
        get => throw new NotSupportedException("A network stream has no position.");
        set => throw new NotSupportedException("A network stream has no position.");
    }

    /// <inheritdoc />
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        _inner.ReadAsync(buffer, cancellationToken);

    /// <inheritdoc />
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        _inner.ReadAsync(buffer, offset, count, cancellationToken);

    /// <inheritdoc />
    public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);

    /// <inheritdoc />
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        _inner.WriteAsync(buffer, cancellationToken);

    /// <inheritdoc />
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        _inner.WriteAsync(buffer, offset, count, cancellationToken);

    /// <inheritdoc />
    public override void Write(byte[] buffer, int offset, int count) => _inner.Write(buffer, offset, count);

    /// <inheritdoc />
    public override void Flush() => _inner.Flush();

    /// <inheritdoc />
    public override Task FlushAsync(CancellationToken cancellationToken) => _inner.FlushAsync(cancellationToken);

    /// <inheritdoc />
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException("A network stream cannot seek.");

    /// <inheritdoc />
    public override void SetLength(long value) => throw new NotSupportedException("A network stream has no length.");

    /// <inheritdoc />
    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        try
        {
            await _inner.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            _onDisposed?.Invoke(this);
        }
        await base.DisposeAsync().ConfigureAwait(false);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _inner.Dispose();
            _onDisposed?.Invoke(this);
        }
        base.Dispose(disposing);
    }

    /// <summary>The protocol, peer and stream id.</summary>
    public override string ToString() => $"{Protocol} with {RemotePeer} (stream {StreamId})";
}
