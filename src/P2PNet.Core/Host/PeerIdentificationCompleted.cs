using P2PNet.Peers;

namespace P2PNet.Host;

/// <summary>Identify with a peer completed: we know its key, addresses, protocols and agent.</summary>
public sealed record PeerIdentificationCompleted(PeerId Peer, PeerRecord Record) : HostEvent;
