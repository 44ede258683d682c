using System.IO.Pipelines;
using P2PNet.Peers;

namespace P2PNet.Upgrade;

/// <summary>
/// A security protocol of the connection upgrade (libp2p/specs connections/README.md, "Upgrading connections"):
/// authenticates the remote peer and encrypts a raw duplex pipe. Noise (<c>/noise</c>) is the built-in one.
/// </summary>
/// <remarks>
/// <para>The pipe may be anything: a TCP socket, a WebSocket, a pnet-protected connection, a relayed stream or an
/// in-memory pipe. The protocol reads exactly its handshake from it: bytes the remote pipelined behind the handshake
/// stay for the secured connection.</para>
/// <para>On failure the protocol completes both sides of the pipe (the connection is dropped) and throws; the caller
/// still owns and disposes whatever object supplied the pipe. Implementations are shared by all the connections of a
/// host and must allow concurrent handshakes. Contract: <c>tests/P2PNet.Core.Tests/Conformance/SecureChannel</c>.</para>
/// </remarks>
public interface ISecurityProtocol
{
    /// <summary>The protocol id negotiated with multistream-select (e.g. <c>/noise</c>).</summary>
    string ProtocolId { get; }

    /// <summary>Secures a connection we dialed: we are the handshake's initiator.</summary>
    /// <param name="connection">The raw pipe.</param>
    /// <param name="expectedPeer">The peer we meant to reach; another identity fails the handshake. <see langword="null"/> accepts any.</param>
    /// <param name="cancellationToken">Cancels the handshake (and drops the connection).</param>
    /// <returns>The secured connection, its remote authenticated.</returns>
    /// <exception cref="IOException">The handshake failed (a typed subclass, e.g. <c>NoiseHandshakeException</c>); the connection was dropped.</exception>
    ValueTask<ISecureConnection> SecureOutboundAsync(IDuplexPipe connection, PeerId? expectedPeer, CancellationToken cancellationToken);

    /// <summary>Secures a connection we accepted: we are the handshake's responder; any authenticated peer is accepted.</summary>
    /// <param name="connection">The raw pipe.</param>
    /// <param name="cancellationToken">Cancels the handshake (and drops the connection).</param>
    /// <returns>The secured connection, its remote authenticated.</returns>
    /// <exception cref="IOException">The handshake failed (a typed subclass); the connection was dropped.</exception>
    ValueTask<ISecureConnection> SecureInboundAsync(IDuplexPipe connection, CancellationToken cancellationToken);
}
