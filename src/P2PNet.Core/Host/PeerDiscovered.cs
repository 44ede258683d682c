using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Host;

/// <summary>A discovery mechanism (e.g. mDNS) found a peer and its addresses; they are in the peer store already.</summary>
/// <param name="Peer">The peer found.</param>
/// <param name="Addresses">Its addresses as announced (without <c>/p2p</c>).</param>
/// <param name="Source">What found it, e.g. <c>mdns</c>.</param>
public sealed record PeerDiscovered(PeerId Peer, IReadOnlyList<Multiaddr> Addresses, string Source) : HostEvent;
