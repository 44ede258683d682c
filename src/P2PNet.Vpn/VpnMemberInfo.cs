using System.Net;
using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Vpn;

/// <summary>One row of the routing table: a peer, its private address and where it can be dialed.</summary>
/// <param name="Peer">The member's peer id.</param>
/// <param name="Address">Its private IPv4 address inside the VPN network.</param>
/// <param name="Addresses">Multiaddrs it listens on (empty until it has joined).</param>
public sealed record VpnMemberInfo(PeerId Peer, IPAddress Address, IReadOnlyList<Multiaddr> Addresses);
