namespace P2PNet.Muxing;

/// <summary>
/// Thrown when a stream is opened or accepted on a multiplexed connection that is closed or going away, and by
/// operations on streams that were still open when their connection ended.
/// </summary>
/// <remarks>
/// Open a new connection to the peer to continue. <see cref="Exception.InnerException"/>, when set, is the reason the
/// connection ended (a transport error, a protocol violation by the peer, a keep-alive timeout).
/// </remarks>
public sealed class MuxerClosedException : IOException
{
    /// <summary>Creates the exception with a generic message.</summary>
    public MuxerClosedException() : base("The multiplexed connection is closed.") { }

    /// <summary>Creates the exception with a message that says why no stream can be used.</summary>
    /// <param name="message">Why the connection cannot be used.</param>
    public MuxerClosedException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the reason the connection ended.</summary>
    /// <param name="message">Why the connection cannot be used.</param>
    /// <param name="innerException">The reason the connection ended.</param>
    public MuxerClosedException(string message, Exception? innerException) : base(message, innerException) { }
}
