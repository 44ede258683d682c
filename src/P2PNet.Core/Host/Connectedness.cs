namespace P2PNet.Host;

/// <summary>Whether we have a connection to a peer.</summary>
public enum Connectedness
{
    /// <summary>No open connection.</summary>
    NotConnected,

    /// <summary>At least one open connection.</summary>
    Connected,
}
