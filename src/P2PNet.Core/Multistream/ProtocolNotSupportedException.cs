namespace P2PNet;

/// <summary>
/// The remote peer refused every protocol we proposed (it answered <c>na</c> to each of them).
/// </summary>
/// <remarks>The connection or stream is still well-formed but carries no protocol; close it. To succeed, propose a
/// protocol the remote supports (see <see cref="Protocols"/> for what was tried).</remarks>
public class ProtocolNotSupportedException : IOException
{
    /// <summary>Creates the exception for the protocols the remote refused, in the order they were proposed.</summary>
    public ProtocolNotSupportedException(IReadOnlyList<string> protocols)
        : base($"The remote supports none of the proposed protocols: {string.Join(", ", protocols ?? [])}.")
    {
        Protocols = protocols is null ? [] : [.. protocols];
    }

    /// <summary>Creates the exception with a message.</summary>
    public ProtocolNotSupportedException(string message) : base(message) => Protocols = [];

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public ProtocolNotSupportedException(string message, Exception innerException) : base(message, innerException) => Protocols = [];

    /// <summary>Creates the exception with a generic message.</summary>
    public ProtocolNotSupportedException() : base("The remote supports none of the proposed protocols.") => Protocols = [];

    /// <summary>The protocols proposed and refused, in order.</summary>
    public IReadOnlyList<string> Protocols { get; }
}
