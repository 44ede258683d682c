namespace P2PNet.Protocols.Relay;

/// <summary>Settings of the relay client: reservations and relayed connections accepted through them.</summary>
public sealed class RelayClientOptions
{
    /// <summary>Whether relayed connections are accepted (they are marked <see cref="Host.P2PConnection.IsLimited"/>);
    /// false answers every stop request with <see cref="RelayStatus.PermissionDenied"/>. Default true.</summary>
    public bool AcceptRelayedConnections { get; set; } = true;

    /// <summary>A reservation is renewed this long before it expires (or at half its lifetime, if that is sooner).
    /// Default 2 minutes.</summary>
    public TimeSpan RenewBeforeExpiry { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>After a failed renewal, wait this long before trying again (while the reservation lasts). Default 10 s.</summary>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Largest hop or stop message accepted. Default 4096 bytes.</summary>
    public int MaxMessageSize { get; set; } = 4096;

    /// <summary>How long a relay has to answer a request. Default 30 s.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
