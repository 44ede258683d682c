namespace P2PNet.Host;

/// <summary>
/// A part of the host (the peer store's database, mDNS, bootstrap, identify, idle maintenance) could not start.
/// The parts started before it were stopped again; the host cannot be used: dispose it, fix the cause
/// (<see cref="Exception.InnerException"/>, for example a peer-store path in a directory that does not exist) and create another.
/// </summary>
public sealed class HostServiceException : Exception
{
    /// <summary>Creates the exception.</summary>
    public HostServiceException() : base("A host service failed to start.") { }

    /// <summary>Creates the exception with a message.</summary>
    public HostServiceException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public HostServiceException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception for the service <paramref name="serviceName"/> that failed with <paramref name="innerException"/>.</summary>
    public HostServiceException(string serviceName, string message, Exception innerException) : base(message, innerException)
    {
        ServiceName = serviceName;
    }

    /// <summary>The service that failed to start (<c>peer store</c>, <c>mDNS</c>, <c>bootstrap</c>, ...), when known.</summary>
    public string? ServiceName { get; }
}
