using P2PNet.Peers;

namespace P2PNet.Host;

/// <summary>
/// A peer was dialed by id, but no address of it is known and the host's <see cref="P2PHost.PeerRouting"/> (when set)
/// found none. Dial it by multiaddr, add its addresses to the <see cref="P2PHost.PeerStore"/>, or connect to more DHT
/// peers so that a lookup can find it. An <see cref="IOException"/>, as other dial failures are.
/// </summary>
public sealed class PeerNotFoundException : IOException
{
    /// <summary>Creates the exception.</summary>
    public PeerNotFoundException() : base("No address of the peer is known or could be found.") { }

    /// <summary>Creates the exception with a message.</summary>
    public PeerNotFoundException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public PeerNotFoundException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception for <paramref name="peer"/>.</summary>
    public PeerNotFoundException(PeerId peer, string message, Exception? innerException = null) : base(message, innerException)
    {
        Peer = peer;
    }

    /// <summary>The peer that was not found, when known.</summary>
    public PeerId? Peer { get; }
}
