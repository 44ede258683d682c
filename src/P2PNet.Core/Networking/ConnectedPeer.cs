using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Networking;

/// <summary>One connected peer in a <see cref="NetworkStatus"/>.</summary>
/// <param name="PeerId">The peer.</param>
/// <param name="Addresses">Remote addresses of our connections to it.</param>
/// <param name="Protocols">Protocols it said (through identify) it supports.</param>
/// <param name="AgentVersion">Its agent, once identified.</param>
/// <param name="Connections">Open connections to it.</param>
public sealed record ConnectedPeer(PeerId PeerId, IReadOnlyList<Multiaddr> Addresses, IReadOnlyList<string> Protocols, string? AgentVersion, int Connections)
{
    /// <summary>How many of <see cref="Connections"/> go through a relay (limited; see <see cref="Host.P2PConnection.IsLimited"/>).</summary>
    public int RelayedConnections { get; init; }
}
