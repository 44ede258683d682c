namespace P2PNet.Protocols.Dht;

/// <summary>Whether a <see cref="KadDht"/> answers other peers' queries (libp2p/specs kad-dht, "Client and server mode").</summary>
public enum KadDhtMode
{
    /// <summary>Queries others but does not serve the protocol: identify does not list it, so peers never put this node
    /// in their routing tables. For nodes others cannot dial (behind a NAT) or that come and go.</summary>
    Client,

    /// <summary>Serves the protocol and is put in peers' routing tables. For publicly reachable, long-lived nodes.</summary>
    Server,

    /// <summary>A client until AutoNAT concludes the host is publicly reachable (<see cref="Host.P2PHost.Reachability"/>
    /// <see cref="Host.Reachability.Public"/>), then a server, and a client again when that changes.</summary>
    Auto,
}
