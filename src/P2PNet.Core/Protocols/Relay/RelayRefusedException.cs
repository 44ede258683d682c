namespace P2PNet.Protocols.Relay;

/// <summary>A relay (or the destination behind it) answered a reservation or connection request with a failure status.</summary>
/// <remarks>An <see cref="IOException"/>, like every other way a dial can fail: try another relay, or the peer directly.</remarks>
public sealed class RelayRefusedException : IOException
{
    /// <summary>Creates the exception.</summary>
    public RelayRefusedException()
        : this(RelayStatus.Unused, "The relay refused the request.")
    {
    }

    /// <summary>Creates the exception.</summary>
    public RelayRefusedException(string message)
        : this(RelayStatus.Unused, message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public RelayRefusedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for <paramref name="status"/>.</summary>
    public RelayRefusedException(RelayStatus status, string message)
        : base(message)
    {
        Status = status;
    }

    /// <summary>The status the relay answered.</summary>
    public RelayStatus Status { get; }
}
