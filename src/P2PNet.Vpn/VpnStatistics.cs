namespace P2PNet.Vpn;

/// <summary>Why a packet was dropped (also the <c>reason</c> tag of <c>p2pnet.vpn.packets.dropped</c>).</summary>
public enum VpnDropReason
{
    /// <summary>A peer sent a packet whose source is not its assigned address (or the local system did).</summary>
    Spoofed,

    /// <summary>The destination is not a member of the table (or, on receipt, not this member).</summary>
    Unroutable,

    /// <summary>The peer's bounded queue was full (the peer is slow or away).</summary>
    QueueFull,

    /// <summary>Not an IPv4 packet, or too short or too long.</summary>
    Malformed,

    /// <summary>On an outbound gateway: from a member that is not an allowed requestor, to a destination the egress
    /// policy refuses, or over the requestor's bandwidth limit (<see cref="Gateway.VpnEgress"/>).</summary>
    EgressRefused,
}

/// <summary>Traffic with one peer since the network started.</summary>
/// <param name="PacketsSent">Packets written to the peer's stream.</param>
/// <param name="BytesSent">IP bytes written to the peer's stream.</param>
/// <param name="PacketsReceived">Packets received from the peer and delivered.</param>
/// <param name="BytesReceived">IP bytes received from the peer and delivered.</param>
/// <param name="Connected">Whether a data stream to the peer is up now.</param>
public sealed record VpnPeerStatistics(long PacketsSent, long BytesSent, long PacketsReceived, long BytesReceived, bool Connected);

/// <summary>A snapshot of a <see cref="VpnEndpoint"/>'s counters.</summary>
/// <param name="Peers">Per peer id (text form).</param>
/// <param name="Drops">Dropped packets by reason.</param>
public sealed record VpnStatistics(IReadOnlyDictionary<string, VpnPeerStatistics> Peers, IReadOnlyDictionary<VpnDropReason, long> Drops)
{
    /// <summary>Drops for <paramref name="reason"/>.</summary>
    public long DropCount(VpnDropReason reason) => Drops.TryGetValue(reason, out long n) ? n : 0;
}
