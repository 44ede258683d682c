using P2PNet.Peers;

namespace P2PNet.Host;

/// <summary>Identify with a peer failed.</summary>
public sealed record PeerIdentificationFailed(PeerId Peer, Exception Error) : HostEvent;
