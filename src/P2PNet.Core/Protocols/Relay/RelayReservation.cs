using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Protocols.Relay;

/// <summary>A slot held on a relay: while it lasts, peers reach us at <see cref="CircuitAddresses"/>.</summary>
/// <param name="Relay">The relay.</param>
/// <param name="Expires">When the relay drops it unless renewed.</param>
/// <param name="CircuitAddresses">Our addresses through the relay, each ending in <c>/p2p-circuit/p2p/&lt;our id&gt;</c>.</param>
/// <param name="DurationLimit">How long each relayed connection may last (null: no limit announced).</param>
/// <param name="DataLimit">Bytes each relayed connection may carry each way (null: no limit announced).</param>
public sealed record RelayReservation(PeerId Relay, DateTimeOffset Expires, IReadOnlyList<Multiaddr> CircuitAddresses,
    TimeSpan? DurationLimit, long? DataLimit);
