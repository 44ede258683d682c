using System.Net;
using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Vpn;

/// <summary>One row of the routing table: a peer, its private address and where it can be dialed.</summary>
/// <param name="Peer">The member's peer id.</param>
/// <param name="Address">Its private IPv4 address inside the VPN network.</param>
/// <param name="Addresses">Multiaddrs it listens on (empty until it has joined).</param>
public sealed record VpnMember(PeerId Peer, IPAddress Address, IReadOnlyList<Multiaddr> Addresses);

/// <summary>A member to admit: a peer and, optionally, the address it asks for.</summary>
/// <param name="Peer">The peer id.</param>
/// <param name="RequestedAddress">The address wanted; taken if free, otherwise the lowest free one is assigned.</param>
public sealed record VpnMemberRequest(PeerId Peer, IPAddress? RequestedAddress = null);

/// <summary>A routing table as the coordinator signed it.</summary>
/// <param name="Version">Strictly increasing with every change within one <see cref="Epoch"/> (one run of the coordinator).</param>
/// <param name="Network">The VPN's IPv4 range.</param>
/// <param name="Mtu">The MTU every member uses.</param>
/// <param name="Coordinator">The peer that signed the table.</param>
/// <param name="Members">Every member, coordinator included.</param>
public sealed record VpnRoutingTable(ulong Version, IPNetwork Network, int Mtu, PeerId Coordinator, IReadOnlyList<VpnMember> Members)
{
    /// <summary>The coordinator's start time in Unix milliseconds: a restarted coordinator's tables (whose
    /// <see cref="Version"/> starts again at 1) are newer than those of its previous run. Zero from a coordinator that
    /// predates epochs.</summary>
    public ulong Epoch { get; init; }

    /// <summary>The member <paramref name="peer"/>, or null.</summary>
    public VpnMember? Find(PeerId peer) => Members.FirstOrDefault(m => m.Peer == peer);

    /// <summary>Whether this table supersedes <paramref name="other"/>: a later epoch, or the same epoch and a higher version.</summary>
    public bool IsNewerThan(VpnRoutingTable other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Epoch != other.Epoch ? Epoch > other.Epoch : Version > other.Version;
    }
}
