using P2PNet.Host;
using P2PNet.Security.Pnet;

namespace P2PNet.Swarm.Internal;

/// <summary>Moves a host between the public network and a private one: the keys are changed and the connections of the
/// other network closed. The listeners stay open — the keys apply to each connection's handshake, and the host refuses
/// one that finishes its handshake with keys no longer accepted — so the ports are never released for something else
/// to take in between (closing and re-binding lost the port to another socket's ephemeral port now and then).</summary>
internal static class PrivateNetworkSwitch
{
    public static async Task EnterAsync(P2PHost host, SwarmKey key, IReadOnlyList<SwarmKey> alsoAccepted, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        host.SetPrivateNetworkKeys(key, alsoAccepted);
        SwarmKey[] keys = [key, .. alsoAccepted];
        await host.CloseConnectionsAsync(c => c.PrivateNetworkKey is null || !keys.Contains(c.PrivateNetworkKey)).ConfigureAwait(false);
    }

    public static async Task LeaveAsync(P2PHost host, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        host.SetPrivateNetworkKeys(null);
        await host.CloseConnectionsAsync(c => c.PrivateNetworkKey is not null).ConfigureAwait(false);
    }
}
