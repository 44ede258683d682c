namespace P2PNet.Storage;

/// <summary>
/// A P2PNet database file (the peer store, a swarm store) was written by a newer version of P2PNet, with a schema this
/// version does not know. It is left untouched: upgrade P2PNet, or point the option at another file.
/// </summary>
public sealed class StoreVersionException : IOException
{
    /// <summary>Creates the exception.</summary>
    public StoreVersionException() : base("The database was written by a newer version of P2PNet.") { }

    /// <summary>Creates the exception with a message.</summary>
    public StoreVersionException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public StoreVersionException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception for <paramref name="path"/>, whose schema version is <paramref name="foundVersion"/>.</summary>
    public StoreVersionException(string path, long foundVersion, int supportedVersion)
        : base($"The database {path} has schema version {foundVersion}, newer than {supportedVersion}, the newest this version of P2PNet knows; it was left untouched. Upgrade P2PNet or use another file.")
    {
        Path = path;
        FoundVersion = foundVersion;
        SupportedVersion = supportedVersion;
    }

    /// <summary>The database file, when known.</summary>
    public string? Path { get; }

    /// <summary>The schema version found in the file (<c>PRAGMA user_version</c>).</summary>
    public long FoundVersion { get; }

    /// <summary>The newest schema version this version of P2PNet knows.</summary>
    public int SupportedVersion { get; }
}
