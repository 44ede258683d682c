using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Protocols.Nat;

/// <summary>A relayed connection to <paramref name="Peer"/> was upgraded to a direct one at <paramref name="Address"/>.</summary>
/// <param name="Peer">The peer.</param>
/// <param name="Address">The peer's address of the direct connection.</param>
/// <param name="Elapsed">From the start of the upgrade (or of the handler, on the answering side) to the direct connection.</param>
/// <param name="Attempt">Which synchronised attempt succeeded (0: a direct dial without synchronisation).</param>
public sealed record HolePunchSucceeded(PeerId Peer, Multiaddr Address, TimeSpan Elapsed, int Attempt) : HostEvent;

/// <summary>Upgrading the relayed connection to <paramref name="Peer"/> failed; the relayed connection stays.</summary>
/// <param name="Peer">The peer.</param>
/// <param name="Reason">Why, for people.</param>
public sealed record HolePunchFailed(PeerId Peer, string Reason) : HostEvent;
