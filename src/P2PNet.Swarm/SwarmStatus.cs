using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Swarm;

/// <summary>A snapshot of a node's private-swarm state.</summary>
/// <param name="SwarmId">The swarm.</param>
/// <param name="Role">Owner or member.</param>
/// <param name="Owner">The owner's peer id.</param>
/// <param name="IsPrivate">Whether the node is in the private swarm now (false: the public network).</param>
/// <param name="KeyFingerprint">Fingerprint (hex) of the current swarm key, when known.</param>
/// <param name="AcceptedKeyFingerprints">Fingerprints of previous keys still accepted (grace period).</param>
/// <param name="GraceUntil">When the last rotation's grace period ends, if one is running.</param>
/// <param name="Members">Authorised peers (owner: the configured list; member: empty).</param>
/// <param name="ConnectedMembers">Peers connected through the swarm key now.</param>
/// <param name="Bootstrap">Bootstrap addresses.</param>
public sealed record SwarmStatus(
    string SwarmId,
    SwarmRole Role,
    PeerId Owner,
    bool IsPrivate,
    string? KeyFingerprint,
    IReadOnlyList<string> AcceptedKeyFingerprints,
    DateTimeOffset? GraceUntil,
    IReadOnlyList<PeerId> Members,
    IReadOnlyList<PeerId> ConnectedMembers,
    IReadOnlyList<Multiaddr> Bootstrap);
