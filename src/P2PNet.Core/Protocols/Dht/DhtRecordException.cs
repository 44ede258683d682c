namespace P2PNet.Protocols.Dht;

/// <summary>A value record was refused: its namespace has no validator, its validator rejected it, or it is larger
/// than <see cref="KadDhtOptions.MaxRecordSize"/>. Fix the record (or register a validator for its namespace in
/// <see cref="KadDhtOptions.Validators"/>).</summary>
public sealed class DhtRecordException : Exception
{
    /// <summary>Creates the exception.</summary>
    public DhtRecordException()
    {
    }

    /// <summary>Creates the exception with a message saying what is wrong with the record.</summary>
    public DhtRecordException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the error behind it.</summary>
    public DhtRecordException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
