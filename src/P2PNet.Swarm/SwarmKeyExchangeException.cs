namespace P2PNet.Swarm;

/// <summary>The key exchange failed: the owner refused (see <see cref="Status"/>), or its answer did not verify.</summary>
public sealed class SwarmKeyExchangeException : IOException
{
    /// <summary>Creates the exception.</summary>
    public SwarmKeyExchangeException()
        : this(KeyExchangeStatus.Malformed, "The key exchange failed.")
    {
    }

    /// <summary>Creates the exception.</summary>
    public SwarmKeyExchangeException(string message)
        : this(KeyExchangeStatus.Malformed, message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public SwarmKeyExchangeException(string message, Exception innerException)
        : base(message, innerException) => Status = KeyExchangeStatus.Malformed;

    /// <summary>Creates the exception with the owner's reason code.</summary>
    public SwarmKeyExchangeException(KeyExchangeStatus status, string message)
        : base(message) => Status = status;

    /// <summary>The owner's reason code, or <see cref="KeyExchangeStatus.Malformed"/> when the answer itself was bad.</summary>
    public KeyExchangeStatus Status { get; }
}
