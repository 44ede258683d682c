namespace P2PNet.Host;

/// <summary>Whether other peers can reach us.</summary>
public enum Reachability
{
    /// <summary>Not known (no NAT-detection protocol has run).</summary>
    Unknown,

    /// <summary>Publicly dialable.</summary>
    Public,

    /// <summary>Behind a NAT or firewall.</summary>
    Private,
}
