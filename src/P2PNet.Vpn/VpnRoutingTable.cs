using System.Net;
using P2PNet.Peers;

namespace P2PNet.Vpn;

/// <summary>A routing table as the coordinator signed it.</summary>
/// <param name="Version">Strictly increasing with every change within one <see cref="Epoch"/> (one run of the coordinator).</param>
/// <param name="Network">The VPN's IPv4 range.</param>
/// <param name="Mtu">The MTU every member uses.</param>
/// <param name="Coordinator">The peer that signed the table.</param>
/// <param name="Members">Every member, coordinator included.</param>
public sealed record VpnRoutingTable(ulong Version, IPNetwork Network, int Mtu, PeerId Coordinator, IReadOnlyList<VpnMemberInfo> Members)
{
    /// <summary>The coordinator's start time in Unix milliseconds: a restarted coordinator's tables (whose
    /// <see cref="Version"/> starts again at 1) are newer than those of its previous run. Zero from a coordinator that
    /// predates epochs.</summary>
    public ulong Epoch { get; init; }

    /// <summary>The id of the VPN the table belongs to (32 lowercase hex characters), covered by the signature: a table
    /// of one VPN is never taken by a member of another VPN of the same coordinator.</summary>
    public string VpnId { get; init; } = "";

    /// <summary>The outbound gateway's VPN address, or null: members send packets for destinations outside
    /// <see cref="Network"/> to the member holding it (docs/outbound-gateway.md). Covered by the signature.</summary>
    public IPAddress? Gateway { get; init; }

    /// <summary>The member <paramref name="peer"/>, or null.</summary>
    public VpnMemberInfo? Find(PeerId peer) => Members.FirstOrDefault(m => m.Peer == peer);

    /// <summary>Whether this table supersedes <paramref name="other"/>: a later epoch, or the same epoch and a higher version.</summary>
    public bool IsNewerThan(VpnRoutingTable other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Epoch != other.Epoch ? Epoch > other.Epoch : Version > other.Version;
    }
}
