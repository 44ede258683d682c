using P2PNet.Security.Pnet;
using P2PNet.Transports;

namespace P2PNet.Upgrade;

/// <summary>What <see cref="ConnectionUpgrader"/> made of a raw connection: the (possibly pnet-protected) transport,
/// the secured connection over it and the muxed session over that, not started yet.</summary>
/// <param name="Transport">The transport below the security layer: the raw connection, or its pnet wrapper.</param>
/// <param name="Secure">The secured connection.</param>
/// <param name="Session">The muxed session (call <see cref="IMuxedSession.Start"/> once the connection is accepted).</param>
/// <param name="Muxer">The muxer's protocol id.</param>
/// <param name="PrivateNetworkKey">The swarm key protecting the transport, or <see langword="null"/> on the public network.</param>
internal sealed record ConnectionUpgrade(TransportConnection Transport, ISecureConnection Secure, IMuxedSession Session, string Muxer, SwarmKey? PrivateNetworkKey)
{
    /// <summary>Disposes the session, then the secured connection (the transport stays with the caller).</summary>
    public async ValueTask DisposeLayersAsync()
    {
        await Session.DisposeAsync().ConfigureAwait(false);
        await Secure.DisposeAsync().ConfigureAwait(false);
    }
}
