using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Host;

/// <summary>
/// Decides which connections a <see cref="P2PHost"/> makes and keeps, at four points: before dialing a peer, before
/// dialing an address, when a raw inbound connection arrives, and after the Noise handshake proves the remote's
/// identity. Every method allows by default, so an implementation overrides only what it needs.
/// </summary>
/// <remarks>Called concurrently from dial and accept paths: implementations must be thread-safe and fast (no I/O).
/// A refused connection is closed at once; a refused dial throws <see cref="ConnectionGatedException"/>.</remarks>
public interface IConnectionGater
{
    /// <summary>Whether we may dial <paramref name="peer"/> at all.</summary>
    bool AllowDialPeer(PeerId peer) => true;

    /// <summary>Whether we may dial <paramref name="address"/> (for <paramref name="peer"/>, when known).</summary>
    bool AllowDialAddress(PeerId? peer, Multiaddr address) => true;

    /// <summary>Whether to accept a raw inbound connection from <paramref name="remoteAddress"/> (before any handshake).</summary>
    bool AllowAccept(Multiaddr remoteAddress) => true;

    /// <summary>Whether to keep a connection once the handshake proved the remote is <paramref name="peer"/>.</summary>
    bool AllowSecured(ConnectionDirection direction, PeerId peer, Multiaddr remoteAddress) => true;
}
