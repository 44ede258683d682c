namespace P2PNet.Vpn.NetStack;

/// <summary>A TCP connection of an <see cref="IPStack"/> failed; <see cref="Error"/> says how. Reconnect to go on.</summary>
public sealed class TcpConnectionException : IOException
{
    /// <summary>Creates an exception for <paramref name="error"/>.</summary>
    public TcpConnectionException(TcpError error, string message)
        : base(message) => Error = error;

    /// <summary>Creates an exception.</summary>
    public TcpConnectionException()
        : this(TcpError.ConnectionAborted, "The TCP connection failed.")
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    public TcpConnectionException(string message)
        : this(TcpError.ConnectionAborted, message)
    {
    }

    /// <summary>Creates an exception with a message and cause.</summary>
    public TcpConnectionException(string message, Exception innerException)
        : base(message, innerException) => Error = TcpError.ConnectionAborted;

    /// <summary>How the connection failed.</summary>
    public TcpError Error { get; }

    /// <summary>Whether the peer caused it (a reset or refusal it sent) rather than this side.</summary>
    public bool IsRemote => Error is TcpError.ConnectionRefused or TcpError.ConnectionReset;
}
