using P2PNet.Multiformats;

namespace P2PNet.Host;

/// <summary>Our listen addresses changed.</summary>
/// <param name="Current">All addresses now, each ending in <c>/p2p/&lt;our id&gt;</c>.</param>
/// <param name="Added">Addresses that appeared.</param>
/// <param name="Removed">Addresses that went away.</param>
public sealed record LocalAddressesUpdated(IReadOnlyList<Multiaddr> Current, IReadOnlyList<Multiaddr> Added, IReadOnlyList<Multiaddr> Removed) : HostEvent;
