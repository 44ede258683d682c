namespace P2PNet;

/// <summary>
/// The remote peer sent something the protocol does not allow: a wrong header, an unexpected answer, a frame that
/// fails authentication. The connection or stream it happened on is unusable and has been (or should be) closed.
/// </summary>
/// <remarks>Nothing to retry on the same connection: the remote is either not speaking the protocol or is faulty.
/// Malformed bytes inside a well-formed exchange may surface as <see cref="WireFormatException"/> instead.</remarks>
public class ProtocolViolationException : IOException
{
    private const string Prefix = "The remote broke the protocol: ";

    /// <summary>Creates the exception; <paramref name="detail"/> says what the remote did wrong.</summary>
    public ProtocolViolationException(string detail) : base(Prefix + detail) { }

    /// <summary>Creates the exception with what the remote did wrong and the error that revealed it.</summary>
    public ProtocolViolationException(string detail, Exception innerException) : base(Prefix + detail, innerException) { }

    /// <summary>Creates the exception with a generic message.</summary>
    public ProtocolViolationException() : base("The remote broke the protocol.") { }
}
