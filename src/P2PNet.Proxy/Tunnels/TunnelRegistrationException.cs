namespace P2PNet.Proxy.Tunnels;

/// <summary>The tunnel server refused a registration or a token operation, or cut a device off; <see cref="Status"/> says why.</summary>
public sealed class TunnelRegistrationException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="status">Why.</param>
    /// <param name="message">What happened and what to do.</param>
    public TunnelRegistrationException(TunnelStatusCode status, string message)
        : base(message) => Status = status;

    /// <summary>Creates the exception with a generic message.</summary>
    public TunnelRegistrationException()
        : this(TunnelStatusCode.BadRequest, "The tunnel registration was refused.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public TunnelRegistrationException(string message)
        : this(TunnelStatusCode.BadRequest, message)
    {
    }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    public TunnelRegistrationException(string message, Exception innerException)
        : base(message, innerException) => Status = TunnelStatusCode.BadRequest;

    /// <summary>Why the server refused.</summary>
    public TunnelStatusCode Status { get; }
}
