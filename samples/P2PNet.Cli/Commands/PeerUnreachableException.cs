namespace P2PNet.Cli.Commands;

/// <summary>A client command could not reach its peer (connect failed, refused by the OS, timed out, no route).</summary>
internal sealed class PeerUnreachableException : IOException
{
    /// <summary>Creates the exception.</summary>
    public PeerUnreachableException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public PeerUnreachableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with its cause.</summary>
    public PeerUnreachableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
