using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Swarm;

/// <summary>What a member must know beforehand to fetch the key: the swarm's id, the owner's peer id and where to reach it.</summary>
/// <param name="SwarmId">The swarm's id, as the owner named it.</param>
/// <param name="Owner">The owner's peer id: responses and notifications must be signed by it.</param>
/// <param name="OwnerAddresses">Addresses of the owner (with or without <c>/p2p/</c>), used to request the key.</param>
public sealed record SwarmMembership(string SwarmId, PeerId Owner, IReadOnlyList<Multiaddr> OwnerAddresses);
