using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Swarm.Internal;

/// <summary>
/// A member's connection gater: refuses to dial, or keep a connection with, a peer the owner revoked, whatever key it
/// holds (a revoked peer inside the grace period still has a key that gets in, and a leaked current key would too).
/// Everything else is decided by the gater the host had before (<see cref="Inner"/>), if any.
/// </summary>
internal sealed class RevokedPeerGater(IConnectionGater? inner, Func<PeerId, bool> isRevoked) : IConnectionGater
{
    public IConnectionGater? Inner { get; } = inner;

    public bool AllowDialPeer(PeerId peer) => !isRevoked(peer) && (Inner?.AllowDialPeer(peer) ?? true);

    public bool AllowDialAddress(PeerId? peer, Multiaddr address) =>
        (peer is null || !isRevoked(peer)) && (Inner?.AllowDialAddress(peer, address) ?? true);

    public bool AllowAccept(Multiaddr remoteAddress) => Inner?.AllowAccept(remoteAddress) ?? true;

    public bool AllowSecured(ConnectionDirection direction, PeerId peer, Multiaddr remoteAddress) =>
        !isRevoked(peer) && (Inner?.AllowSecured(direction, peer, remoteAddress) ?? true);
}
