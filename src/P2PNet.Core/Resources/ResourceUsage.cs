namespace P2PNet.Resources;

/// <summary>A snapshot of the resource manager (<see cref="Host.P2PHost.GetResourceUsage()"/>).</summary>
/// <param name="System">The whole host.</param>
/// <param name="TrackedPeers">Peers with a budget now (those with a connection).</param>
/// <param name="TrackedAddresses">Remote IPs (IPv6: /64 networks) with a budget now.</param>
/// <param name="Refused">Refusals since the host was created, all scopes and resources.</param>
public sealed record ResourceUsage(ScopeUsage System, int TrackedPeers, int TrackedAddresses, long Refused);
