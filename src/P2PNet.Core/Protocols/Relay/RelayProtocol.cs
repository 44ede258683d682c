namespace P2PNet.Protocols.Relay;

/// <summary>Protocol ids of circuit relay v2 (libp2p/specs relay/circuit-v2.md).</summary>
public static class RelayProtocol
{
    /// <summary>Client ↔ relay: reservations and connection requests.</summary>
    public const string HopId = "/libp2p/circuit/relay/0.2.0/hop";

    /// <summary>Relay → reserved peer: an incoming relayed connection.</summary>
    public const string StopId = "/libp2p/circuit/relay/0.2.0/stop";
}
