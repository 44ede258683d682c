using System.Net;
using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Vpn;

/// <summary>A coordinator's request that a peer join its VPN (<see cref="VpnInvite"/>).</summary>
/// <param name="Coordinator">The peer that sent it (authenticated by the connection).</param>
/// <param name="VpnId">The VPN to join.</param>
/// <param name="CoordinatorAddresses">Where the coordinator listens (the invited peer also has the connection the
/// invitation came on).</param>
/// <param name="Address">The VPN address to ask for, or null for any.</param>
/// <param name="ActivityId">The requestor's activity the membership serves, if it named one.</param>
public sealed record VpnInvitation(PeerId Coordinator, string VpnId, IReadOnlyList<Multiaddr> CoordinatorAddresses, IPAddress? Address, string? ActivityId);
