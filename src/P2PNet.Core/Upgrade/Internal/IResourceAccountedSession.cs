using P2PNet.Muxing;
using P2PNet.Resources.Internal;

namespace P2PNet.Upgrade.Internal;

/// <summary>A muxed session that charges its streams and buffers to the host's resource budget (Yamux does). A session
/// without it runs unaccounted beyond the connection's own slot.</summary>
internal interface IResourceAccountedSession
{
    /// <summary>The connection's budget; set before <see cref="IMuxedSession.Start"/>.</summary>
    ConnectionResources? Resources { get; set; }

    /// <summary>Counts a negotiated stream in <paramref name="protocol"/>'s budget.</summary>
    /// <exception cref="Resources.ResourceLimitExceededException">The protocol's budget is full; reset the stream.</exception>
    void AttachProtocol(MuxedStream stream, string protocol);
}
