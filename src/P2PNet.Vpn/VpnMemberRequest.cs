using System.Net;
using P2PNet.Peers;

namespace P2PNet.Vpn;

/// <summary>A member to admit: a peer and, optionally, the address it asks for.</summary>
/// <param name="Peer">The peer id.</param>
/// <param name="RequestedAddress">The address wanted; taken if free, otherwise the lowest free one is assigned.</param>
public sealed record VpnMemberRequest(PeerId Peer, IPAddress? RequestedAddress = null);
