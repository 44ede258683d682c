namespace P2PNet.Cli.Commands;

/// <summary>A DHT lookup finished without finding what was asked for (exit code <see cref="ExitCodes.NotFound"/>).</summary>
internal sealed class DhtNotFoundException : Exception
{
    /// <summary>Creates the exception.</summary>
    public DhtNotFoundException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public DhtNotFoundException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with its cause.</summary>
    public DhtNotFoundException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
