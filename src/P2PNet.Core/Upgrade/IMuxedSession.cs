using P2PNet.Muxing;

namespace P2PNet.Upgrade;

/// <summary>A running stream muxer over one connection, made by <see cref="IStreamMuxer.CreateSession"/>.</summary>
/// <remarks>Thread-safe: every member may be called concurrently. <see cref="IAsyncDisposable.DisposeAsync"/> ends the
/// session at once (open streams fail with <see cref="MuxerClosedException"/>) and waits for its loops; it does not
/// dispose the connection below.</remarks>
public interface IMuxedSession : IAsyncDisposable
{
    /// <summary>Completes when the session has ended (closed by either side, or the connection failed); may fault with the reason.</summary>
    Task Completion { get; }

    /// <summary>Streams open now.</summary>
    int StreamCount { get; }

    /// <summary>Starts the session's loops; called once, after the connection was accepted.</summary>
    void Start();

    /// <summary>Opens an outbound stream.</summary>
    /// <exception cref="MuxerClosedException">The session has ended.</exception>
    ValueTask<MuxedStream> OpenStreamAsync(CancellationToken cancellationToken = default);

    /// <summary>Waits for the next inbound stream; <see langword="null"/> once the session has ended.</summary>
    ValueTask<MuxedStream?> AcceptStreamAsync(CancellationToken cancellationToken = default);

    /// <summary>Closes gracefully: no new streams either way, open streams may finish (Yamux: GoAway).</summary>
    ValueTask CloseAsync(CancellationToken cancellationToken = default);

    /// <summary>Measures the round-trip time to the peer over the session.</summary>
    /// <exception cref="MuxerClosedException">The session has ended.</exception>
    ValueTask<TimeSpan> MeasureRoundTripAsync(CancellationToken cancellationToken = default);
}
