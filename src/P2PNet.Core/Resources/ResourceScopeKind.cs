namespace P2PNet.Resources;

/// <summary>Which budget of the resource manager a limit belongs to.</summary>
public enum ResourceScopeKind
{
    /// <summary>The whole host.</summary>
    System,

    /// <summary>One remote IP address (IPv4) or IPv6 /64 network.</summary>
    Ip,

    /// <summary>One remote peer (all its connections).</summary>
    Peer,

    /// <summary>One protocol (all streams negotiated for it, every peer).</summary>
    Protocol,

    /// <summary>One connection.</summary>
    Connection,
}
