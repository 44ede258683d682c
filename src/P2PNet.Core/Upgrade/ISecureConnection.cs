using System.IO.Pipelines;
using P2PNet.Crypto;
using P2PNet.Peers;

namespace P2PNet.Upgrade;

/// <summary>
/// A connection secured by an <see cref="ISecurityProtocol"/>: plaintext in <see cref="IDuplexPipe.Input"/> and
/// <see cref="IDuplexPipe.Output"/>, both peers authenticated.
/// </summary>
/// <remarks>
/// <para>Completing <see cref="IDuplexPipe.Output"/> half-closes (the remote reads end of stream after the data already
/// written). <see cref="IAsyncDisposable.DisposeAsync"/> closes gracefully: data already written is still sent, then
/// the underlying pipe's output is completed. It does not dispose the object that supplied the pipe.</para>
/// <para>Thread safety: one reader of <see cref="IDuplexPipe.Input"/> and one writer of <see cref="IDuplexPipe.Output"/>
/// at a time; <see cref="Abort"/> may be called from any thread.</para>
/// </remarks>
public interface ISecureConnection : IDuplexPipe, IAsyncDisposable
{
    /// <summary>Our peer id, as the remote authenticated it.</summary>
    PeerId LocalPeer { get; }

    /// <summary>The authenticated remote peer.</summary>
    PeerId RemotePeer { get; }

    /// <summary>The remote's identity key, as proven in the handshake.</summary>
    PublicKey RemotePublicKey { get; }

    /// <summary>
    /// The stream muxer agreed inside the security handshake (libp2p/specs connections/inlined-muxer-negotiation.md),
    /// or <see langword="null"/> when it must be negotiated with multistream-select on the secured connection.
    /// </summary>
    string? Muxer { get; }

    /// <summary>Tears the connection down at once: unsent data is dropped and local reads and writes end with
    /// <paramref name="reason"/>. The remote learns when the transport below is closed, which its owner does next.</summary>
    void Abort(Exception reason);
}
