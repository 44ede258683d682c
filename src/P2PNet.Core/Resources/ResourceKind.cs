namespace P2PNet.Resources;

/// <summary>What a limit of the resource manager counts.</summary>
public enum ResourceKind
{
    /// <summary>Inbound connections that completed their handshake.</summary>
    InboundConnections,

    /// <summary>Outbound connections (counted from the dial on).</summary>
    OutboundConnections,

    /// <summary>Inbound connections still in their handshake.</summary>
    InboundHandshakes,

    /// <summary>Streams the peer opened.</summary>
    InboundStreams,

    /// <summary>Streams we opened.</summary>
    OutboundStreams,

    /// <summary>Bytes reserved for buffers (Yamux receive windows and send queues).</summary>
    Memory,
}
