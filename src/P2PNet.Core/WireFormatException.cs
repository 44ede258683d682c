namespace P2PNet;

/// <summary>
/// The single exception type P2PNet throws for malformed input in any wire or text format it parses:
/// varints, multiaddrs, multihashes, peer ids, keys, protobuf messages and protocol frames.
/// </summary>
/// <remarks>
/// The message says what was wrong and where. Parsers never throw <see cref="IndexOutOfRangeException"/>,
/// <see cref="ArgumentOutOfRangeException"/> or protobuf's own exceptions for bad input: they throw this.
/// </remarks>
public class WireFormatException : FormatException
{
    /// <summary>Creates the exception with a message that says what was wrong.</summary>
    public WireFormatException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public WireFormatException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception with a generic message.</summary>
    public WireFormatException() : base("Malformed input.") { }
}
