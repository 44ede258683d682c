namespace P2PNet.Muxing;

/// <summary>
/// Thrown by reads and writes on a <see cref="Host.P2PStream"/> that was reset: abruptly closed in both directions,
/// with any data still in flight discarded.
/// </summary>
/// <remarks>
/// A reset is not a connection failure: other streams on the same connection are unaffected. Retry the operation on a
/// new stream if it is idempotent; otherwise report the failure to the caller.
/// </remarks>
public sealed class StreamResetException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What was reset and why.</param>
    /// <param name="isRemote"><see langword="true"/> when the remote peer reset the stream; <see langword="false"/> when this side did.</param>
    public StreamResetException(string message, bool isRemote) : base(message) => IsRemote = isRemote;

    /// <summary>Creates the exception for a stream reset by the remote peer.</summary>
    public StreamResetException() : this("The stream was reset by the remote peer.", isRemote: true) { }

    /// <summary>Creates the exception for a stream reset by the remote peer, with a custom message.</summary>
    /// <param name="message">What was reset and why.</param>
    public StreamResetException(string message) : this(message, isRemote: true) { }

    /// <summary>Creates the exception for a local reset, with a message and the error that caused it.</summary>
    /// <param name="message">What was reset and why.</param>
    /// <param name="innerException">The error that caused the reset.</param>
    public StreamResetException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>
    /// <see langword="true"/> when the remote peer reset the stream (it sent RST);
    /// <see langword="false"/> when this side reset it (<see cref="Host.P2PStream.Abort"/>, a write timeout, or a local error).
    /// </summary>
    public bool IsRemote { get; }
}
