namespace P2PNet.Host;

/// <summary>The <see cref="IConnectionGater"/> refused a dial or a connection.</summary>
public sealed class ConnectionGatedException : IOException
{
    /// <summary>Creates the exception.</summary>
    public ConnectionGatedException() : base("The connection gater refused the connection.") { }

    /// <summary>Creates the exception with a message.</summary>
    public ConnectionGatedException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public ConnectionGatedException(string message, Exception innerException) : base(message, innerException) { }
}
