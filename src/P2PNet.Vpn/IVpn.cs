using System.Net;
using P2PNet.Peers;

namespace P2PNet.Vpn;

/// <summary>
/// The VPN interface of the NuNet network package design (<c>Start</c> / <c>AddPeer</c> / <c>RemovePeer</c> /
/// <c>Stop</c>), as the side that owns the network implements it: <see cref="VpnCoordinator"/>.
/// </summary>
/// <remarks>Members join with <see cref="VpnMember.JoinAsync"/>; they do not add or remove anyone.</remarks>
public interface IVpn : IAsyncDisposable
{
    /// <summary>The VPN's id (32 lowercase hex characters), carried on every stream of this VPN.</summary>
    string VpnId { get; }

    /// <summary>Starts the VPN with an initial list of members, assigning each a private address, and returns the first
    /// routing table.</summary>
    /// <param name="initialMembers">The peers admitted from the start, each with the address it asks for, if any.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    Task<VpnRoutingTable> StartAsync(IEnumerable<VpnMemberRequest> initialMembers, CancellationToken cancellationToken = default);

    /// <summary>Adds a peer after the start, updating every member's routing table; existing members keep their addresses
    /// and no address is handed out twice.</summary>
    /// <param name="peer">The peer to add.</param>
    /// <param name="requestedAddress">The address wanted; the lowest free one when null or taken.</param>
    /// <param name="cancellationToken">Cancels the wait for the table push.</param>
    /// <returns>The peer's private address.</returns>
    Task<IPAddress> AddPeerAsync(PeerId peer, IPAddress? requestedAddress = null, CancellationToken cancellationToken = default);

    /// <summary>Removes a peer, updating every member's routing table (the removed one's included).</summary>
    /// <param name="peer">The peer to remove.</param>
    /// <param name="cancellationToken">Cancels the wait for the table push.</param>
    /// <returns>False when it was not a member.</returns>
    Task<bool> RemovePeerAsync(PeerId peer, CancellationToken cancellationToken = default);

    /// <summary>Tears the VPN down locally: data streams closed, device no longer read, protocols unregistered.</summary>
    /// <param name="cancellationToken">Cancels the wait for the lock.</param>
    Task StopAsync(CancellationToken cancellationToken = default);
}
