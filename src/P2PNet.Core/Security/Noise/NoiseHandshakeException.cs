namespace P2PNet.Security.Noise;

/// <summary>
/// The Noise handshake failed: the remote sent a truncated or garbled message, its identity signature is invalid,
/// it is not the peer that was dialed, or the handshake timed out. The connection has been closed.
/// </summary>
/// <remarks>Do not retry on the same connection. A peer id mismatch usually means a stale address book entry;
/// a bad signature or garbled message means the remote is faulty or not speaking libp2p Noise.</remarks>
public sealed class NoiseHandshakeException : IOException
{
    /// <summary>Creates the exception with a message that says what went wrong.</summary>
    public NoiseHandshakeException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public NoiseHandshakeException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception with a generic message.</summary>
    public NoiseHandshakeException() : base("The Noise handshake failed.") { }
}
