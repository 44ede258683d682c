namespace P2PNet.Protocols.Relay;

/// <summary>
/// Limits of the relay service (the hop side of circuit relay v2). Defaults follow go-libp2p's relay resources, the
/// reference the spec points to: reservations last an hour, a circuit 2 minutes and 128 KiB each way.
/// </summary>
public sealed class RelayServiceOptions
{
    /// <summary>How long a reservation lasts before the client must renew it. Default 1 hour.</summary>
    public TimeSpan ReservationTtl { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Reservations held at once, all peers. Default 128.</summary>
    public int MaxReservations { get; set; } = 128;

    /// <summary>Reservations held at once by peers connecting from one IP address. Default 8.</summary>
    public int MaxReservationsPerIp { get; set; } = 8;

    /// <summary>Reservations one peer may hold (a renewal replaces the peer's reservation, it does not add one). Default 1.</summary>
    public int MaxReservationsPerPeer { get; set; } = 1;

    /// <summary>Circuits open at once to or from one peer. Default 16.</summary>
    public int MaxCircuitsPerPeer { get; set; } = 16;

    /// <summary>Circuits open at once, all peers. Default 1024.</summary>
    public int MaxCircuits { get; set; } = 1024;

    /// <summary>How long a circuit may stay open before the relay resets it; <see cref="TimeSpan.Zero"/> for no limit.
    /// Default 2 minutes.</summary>
    public TimeSpan CircuitDuration { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Bytes a circuit may carry in each direction before the relay resets it; 0 for no limit. Default 128 KiB (2^17).</summary>
    public long CircuitDataLimit { get; set; } = 1 << 17;

    /// <summary>Largest hop or stop message accepted. Default 4096 bytes (go-libp2p's bound).</summary>
    public int MaxMessageSize { get; set; } = 4096;

    /// <summary>How long a peer has to send its request, and the destination to answer the stop request. Default 30 s.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
