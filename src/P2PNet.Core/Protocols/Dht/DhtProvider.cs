using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Protocols.Dht;

/// <summary>A peer that provides a key, and where it said it can be reached.</summary>
public sealed record DhtProvider(PeerId Peer, IReadOnlyList<Multiaddr> Addresses);
