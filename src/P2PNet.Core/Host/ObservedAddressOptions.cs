namespace P2PNet.Host;

/// <summary>
/// How the host learns its public addresses from what peers observe (the <c>observedAddr</c> of identify), per local
/// listening port, and what it concludes about the NAT in front of it (<see cref="NatDeviceTypeChanged"/>).
/// </summary>
public sealed class ObservedAddressOptions
{
    /// <summary>Distinct observers (IPv4 addresses, IPv6 /56 prefixes) that must report one address before the host
    /// advertises it and tests it with AutoNAT; also how many observers the NAT type needs. Default 2: small private
    /// swarms see few peers (go-libp2p asks 4 on the public network).</summary>
    public int ActivationThreshold { get; set; } = 2;

    /// <summary>How long an observation counts without being repeated. Default 30 minutes.</summary>
    public TimeSpan Ttl { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>Advertise activated observed addresses (identify, relay reservations, <see cref="P2PHost.ListenAddresses"/>).
    /// Default true.</summary>
    public bool Advertise { get; set; } = true;
}
