namespace P2PNet.Muxing;

/// <summary>
/// Limits and timeouts of the Yamux stream multiplexer (<c>/yamux/1.0.0</c>).
/// </summary>
/// <remarks>
/// The defaults match go-libp2p's and rust-libp2p's and suit most hosts. Options are read when a session starts;
/// changing them later affects only new sessions.
/// </remarks>
public sealed class YamuxOptions
{
    /// <summary>The receive window every Yamux stream starts with, fixed by the specification: 256 KiB.</summary>
    public const int DefaultWindowSize = 256 * 1024;

    /// <summary>
    /// The receive window granted to each new stream. Default 256 KiB, the specification's initial window; a larger value
    /// is announced to the peer with the stream's first frame. Must be between 256 KiB and <see cref="MaxWindowSize"/>.
    /// </summary>
    public int InitialWindowSize { get; set; } = DefaultWindowSize;

    /// <summary>
    /// The largest receive window a stream's window may grow to when its reader keeps up with a fast link. Default 16 MiB.
    /// This bounds the data buffered per stream: a peer that sends more than the window allows is a protocol violation.
    /// </summary>
    public int MaxWindowSize { get; set; } = 16 * 1024 * 1024;

    /// <summary>
    /// How far the receive windows of all streams of one session may together grow beyond their initial size. Default 64 MiB.
    /// Window growth is what lets fast streams use a fast link, and it is also memory a peer can make us buffer: this caps it
    /// per connection, on top of the initial windows (<see cref="InitialWindowSize"/> per open stream), which cannot be refused.
    /// </summary>
    public long MaxSessionWindowGrowth { get; set; } = 64L * 1024 * 1024;

    /// <summary>
    /// The most streams open at once in each direction on one session. Default 1,024. Inbound streams beyond it are
    /// refused (reset); opening an outbound stream beyond it waits until one closes.
    /// </summary>
    public int MaxConcurrentStreams { get; set; } = 1024;

    /// <summary>
    /// The most inbound streams the session holds for the application before it accepts them (the ACK backlog the
    /// specification asks to bound). Default 256. Inbound streams beyond it are refused (reset), not a session error.
    /// </summary>
    public int MaxUnacknowledgedInboundStreams { get; set; } = 256;

    /// <summary>
    /// The most outbound streams opened but not yet acknowledged by the peer. Default 256, as the specification recommends;
    /// opening another waits for an acknowledgement.
    /// </summary>
    public int MaxUnacknowledgedOutboundStreams { get; set; } = 256;

    /// <summary>How often the session pings an idle peer. Default 30 s; <see cref="TimeSpan.Zero"/> turns keep-alive off.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a keep-alive ping may wait for its answer, while nothing else arrives from the peer, before the session is
    /// closed. Default 10 s.
    /// </summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long one write may wait for send buffer space (a peer that does not read) before the stream is reset and the
    /// write throws <see cref="TimeoutException"/>. Default <see langword="null"/>: no limit; use cancellation instead.
    /// </summary>
    public TimeSpan? StreamWriteTimeout { get; set; }

    /// <summary>
    /// The most payload bytes in one data frame. Default 64 KiB. Larger writes are split so that one busy stream cannot
    /// monopolise the connection: frames of different streams are interleaved.
    /// </summary>
    public int MaxFrameWriteSize { get; set; } = 64 * 1024;

    /// <summary>
    /// Bytes written to a stream but not yet sent that make further writes wait. Default 256 KiB. Together with the
    /// peer's window this bounds the memory a stream uses when the peer reads slowly.
    /// </summary>
    public int StreamSendBufferSize { get; set; } = 256 * 1024;

    /// <summary>How long closing a session waits for its GoAway frame and earlier frames to be flushed. Default 5 s.</summary>
    public TimeSpan GoAwayTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A copy, so that a session is unaffected by later changes.</summary>
    internal YamuxOptions Clone() => (YamuxOptions)MemberwiseClone();

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> if an option is out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxWindowSize, DefaultWindowSize, nameof(MaxWindowSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(InitialWindowSize, DefaultWindowSize, nameof(InitialWindowSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(InitialWindowSize, MaxWindowSize, nameof(InitialWindowSize));
        ArgumentOutOfRangeException.ThrowIfNegative(MaxSessionWindowGrowth, nameof(MaxSessionWindowGrowth));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConcurrentStreams, 1, nameof(MaxConcurrentStreams));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxUnacknowledgedInboundStreams, 1, nameof(MaxUnacknowledgedInboundStreams));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxUnacknowledgedOutboundStreams, 1, nameof(MaxUnacknowledgedOutboundStreams));
        ArgumentOutOfRangeException.ThrowIfLessThan(KeepAliveInterval, TimeSpan.Zero, nameof(KeepAliveInterval));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(KeepAliveTimeout, TimeSpan.Zero, nameof(KeepAliveTimeout));
        if (StreamWriteTimeout is { } writeTimeout)
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(writeTimeout, TimeSpan.Zero, nameof(StreamWriteTimeout));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(MaxFrameWriteSize, 1024, nameof(MaxFrameWriteSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxFrameWriteSize, 16 * 1024 * 1024, nameof(MaxFrameWriteSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(StreamSendBufferSize, 1024, nameof(StreamSendBufferSize));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(GoAwayTimeout, TimeSpan.Zero, nameof(GoAwayTimeout));
    }
}
