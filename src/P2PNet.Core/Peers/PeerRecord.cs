using P2PNet.Crypto;
using P2PNet.Multiformats;

namespace P2PNet.Peers;

/// <summary>What is known about a peer: a snapshot from the <see cref="PeerStore"/>.</summary>
/// <param name="Peer">The peer.</param>
/// <param name="PublicKey">Its public key, once known (from the peer id itself or from identify).</param>
/// <param name="Addresses">Addresses it can be dialed on (without <c>/p2p</c>).</param>
/// <param name="Protocols">Protocols it said it supports.</param>
/// <param name="AgentVersion">Its agent, e.g. <c>go-libp2p/0.36.0</c>.</param>
/// <param name="ProtocolVersion">Its protocol version, e.g. <c>ipfs/0.1.0</c>.</param>
/// <param name="ObservedAddress">Our address as this peer sees it.</param>
/// <param name="LastSeen">When the record last changed.</param>
public sealed record PeerRecord(
    PeerId Peer,
    PublicKey? PublicKey,
    IReadOnlyList<Multiaddr> Addresses,
    IReadOnlyList<string> Protocols,
    string? AgentVersion,
    string? ProtocolVersion,
    Multiaddr? ObservedAddress,
    DateTimeOffset LastSeen);
