namespace P2PNet.Host;

/// <summary>Who opened a connection.</summary>
public enum ConnectionDirection
{
    /// <summary>We dialed.</summary>
    Outbound,

    /// <summary>The remote dialed us.</summary>
    Inbound,
}
