namespace P2PNet.Security.Pnet;

/// <summary>The private-network (PSK) layer failed: the remote uses another swarm key, or none.</summary>
public sealed class PrivateNetworkException : IOException
{
    /// <summary>Creates the exception.</summary>
    public PrivateNetworkException(string message) : base(message) { }

    /// <summary>Creates the exception with its cause.</summary>
    public PrivateNetworkException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception with a generic message.</summary>
    public PrivateNetworkException() : base("The private-network handshake failed.") { }
}
