namespace P2PNet.Peers;

/// <summary>Persistence of the <see cref="PeerStore"/>.</summary>
public sealed class PeerStoreOptions
{
    /// <summary>
    /// A SQLite database file that keeps the peer store across restarts (created when missing). Peers are written
    /// shortly after they change and loaded at start. Default: none (in memory only).
    /// </summary>
    public string? DatabasePath { get; set; }

    /// <summary>At start, how many of the most recently seen stored peers to dial once (0: none). Default 16.</summary>
    public int ReconnectOnStart { get; set; } = 16;

    /// <summary>How long changes are gathered before one write. Default 1 s.</summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(1);
}
