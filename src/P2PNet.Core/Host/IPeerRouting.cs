using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Host;

/// <summary>
/// Finds where a peer can be reached when only its id is known (libp2p's peer routing; a <see cref="Protocols.Dht.KadDht"/>
/// is one). The host asks it when <see cref="P2PHost.DialAsync(PeerId, CancellationToken)"/> knows no address of the peer.
/// </summary>
/// <remarks>Called concurrently from any thread. Dials by peer id that the routing itself makes while it searches are not
/// routed again (no recursion).</remarks>
public interface IPeerRouting
{
    /// <summary>The addresses of <paramref name="peer"/>, without <c>/p2p</c>; empty when none were found.</summary>
    Task<IReadOnlyList<Multiaddr>> FindPeerAsync(PeerId peer, CancellationToken cancellationToken = default);
}
