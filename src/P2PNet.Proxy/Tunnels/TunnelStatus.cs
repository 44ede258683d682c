namespace P2PNet.Proxy.Tunnels;

/// <summary>One tunnel (one service of one device) as the server sees it: where it is published and what it carried.</summary>
public sealed record TunnelStatus
{
    /// <summary>The device name (from its token).</summary>
    public required string Device { get; init; }

    /// <summary>The service name.</summary>
    public required string Service { get; init; }

    /// <summary>How the service is published.</summary>
    public required TunnelServiceKind Kind { get; init; }

    /// <summary>The public address: <c>host:port</c> or a hostname.</summary>
    public required string Address { get; init; }

    /// <summary>The device's peer id (empty when never registered in this run).</summary>
    public required string PeerId { get; init; }

    /// <summary>Whether the device is registered now.</summary>
    public bool Online { get; init; }

    /// <summary>Public connections open now.</summary>
    public long ActiveConnections { get; init; }

    /// <summary>Public connections accepted since the server started.</summary>
    public long TotalConnections { get; init; }

    /// <summary>Bytes from the public side towards the device.</summary>
    public long BytesIn { get; init; }

    /// <summary>Bytes from the device towards the public side.</summary>
    public long BytesOut { get; init; }

    /// <summary>Recent rate towards the device, bytes per second.</summary>
    public double BytesInPerSecond { get; init; }

    /// <summary>Recent rate towards the public side, bytes per second.</summary>
    public double BytesOutPerSecond { get; init; }

    /// <summary>When these figures were taken.</summary>
    public DateTimeOffset Updated { get; init; }
}
