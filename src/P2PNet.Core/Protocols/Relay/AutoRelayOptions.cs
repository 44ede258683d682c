using P2PNet.Multiformats;

namespace P2PNet.Protocols.Relay;

/// <summary>Settings of <see cref="AutoRelay"/>.</summary>
public sealed class AutoRelayOptions
{
    /// <summary>Relays to reserve on, in order of preference, each ending in <c>/p2p/&lt;relay id&gt;</c>.</summary>
    public IList<Multiaddr> StaticRelays { get; } = [];

    /// <summary>Also reserve on connected peers that said in identify they serve the hop protocol. Default true.</summary>
    public bool UseConnectedRelays { get; set; } = true;

    /// <summary>Reservations to hold at once. Default 2 (one relay going away leaves the other).</summary>
    public int MaxReservations { get; set; } = 2;

    /// <summary>Reserve only while AutoNAT says we are private (<see cref="Host.Reachability.Private"/>); releases
    /// them when it says public. Off: reserve whatever the reachability (a node known to be behind NAT). Default true.</summary>
    public bool OnlyWhenPrivate { get; set; } = true;

    /// <summary>How often the reservations are checked (they are also checked on every reachability change and
    /// whenever a peer is identified). Default 5 seconds.</summary>
    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a relay that refused or could not be reached is left alone. Default 1 minute.</summary>
    public TimeSpan FailureBackoff { get; set; } = TimeSpan.FromMinutes(1);
}
