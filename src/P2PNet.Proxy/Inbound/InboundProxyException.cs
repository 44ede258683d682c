namespace P2PNet.Proxy.Inbound;

/// <summary>What went wrong in an <see cref="InboundProxy"/> call; the management API maps it to an HTTP status.</summary>
public enum InboundProxyError
{
    /// <summary>An argument is malformed or names something that does not fit (400); <see cref="InboundProxyException.Field"/> names it.</summary>
    InvalidArgument,

    /// <summary>No such socket, probe, activity or VPN (404).</summary>
    NotFound,

    /// <summary>The address holds a socket that rules the call out, or a limit is reached (409).</summary>
    Conflict,

    /// <summary>The operating system refused to bind the address (in use by another program, not a local address, no
    /// permission) (409 as well: the address is taken or unusable).</summary>
    BindFailed,
}

/// <summary>An <see cref="InboundProxy"/> call that could not be done; nothing was changed.</summary>
public sealed class InboundProxyException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="error">What went wrong.</param>
    /// <param name="message">What, and what to do about it.</param>
    /// <param name="field">The field or parameter at fault, when one is (for example <c>RemoteAddr</c>).</param>
    /// <param name="innerException">The cause, if any.</param>
    public InboundProxyException(InboundProxyError error, string message, string? field = null, Exception? innerException = null)
        : base(message, innerException)
    {
        Error = error;
        Field = field;
    }

    /// <summary>Creates the exception with <see cref="InboundProxyError.InvalidArgument"/>.</summary>
    public InboundProxyException() : this(InboundProxyError.InvalidArgument, "The inbound proxy call is not valid.")
    {
    }

    /// <summary>Creates the exception with <see cref="InboundProxyError.InvalidArgument"/>.</summary>
    public InboundProxyException(string message) : this(InboundProxyError.InvalidArgument, message)
    {
    }

    /// <summary>Creates the exception with <see cref="InboundProxyError.InvalidArgument"/>.</summary>
    public InboundProxyException(string message, Exception innerException) : this(InboundProxyError.InvalidArgument, message, null, innerException)
    {
    }

    /// <summary>What went wrong.</summary>
    public InboundProxyError Error { get; }

    /// <summary>The field or parameter at fault, if one is.</summary>
    public string? Field { get; }
}
