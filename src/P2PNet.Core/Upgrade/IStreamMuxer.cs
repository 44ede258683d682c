using System.IO.Pipelines;

namespace P2PNet.Upgrade;

/// <summary>
/// A stream muxer of the connection upgrade: runs many streams over one secured connection. Yamux
/// (<c>/yamux/1.0.0</c>) is the built-in one.
/// </summary>
/// <remarks>Shared by all the connections of a host. Contract: <c>tests/P2PNet.Core.Tests/Conformance/Muxer</c>.</remarks>
public interface IStreamMuxer
{
    /// <summary>The protocol id negotiated with multistream-select or announced in the security handshake (e.g. <c>/yamux/1.0.0</c>).</summary>
    string ProtocolId { get; }

    /// <summary>
    /// Creates a session over <paramref name="connection"/>. Nothing is read or written until
    /// <see cref="IMuxedSession.Start"/>, so the caller may still refuse the connection.
    /// </summary>
    /// <param name="connection">The secured pipe (any duplex pipe works).</param>
    /// <param name="initiator">Whether we dialed the connection (Yamux: the client, odd stream ids).</param>
    IMuxedSession CreateSession(IDuplexPipe connection, bool initiator);
}
