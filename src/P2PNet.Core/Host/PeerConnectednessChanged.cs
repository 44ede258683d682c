using P2PNet.Peers;

namespace P2PNet.Host;

/// <summary>We gained our first connection to a peer, or lost our last one.</summary>
public sealed record PeerConnectednessChanged(PeerId Peer, Connectedness Connectedness) : HostEvent;
