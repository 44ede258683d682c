using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Security.Pnet;

namespace P2PNet.Swarm.Internal;

/// <summary>Moves a host between the public network and a private one: listeners are closed, the keys changed, the
/// connections of the other network closed, and the same addresses (same ports) listened on again.</summary>
internal static class PrivateNetworkSwitch
{
    public static async Task<IReadOnlyList<Multiaddr>> EnterAsync(P2PHost host, SwarmKey key, IReadOnlyList<SwarmKey> alsoAccepted, CancellationToken cancellationToken)
    {
        var closed = await host.StopListeningAsync(cancellationToken).ConfigureAwait(false);
        host.SetPrivateNetworkKeys(key, alsoAccepted);
        SwarmKey[] keys = [key, .. alsoAccepted];
        await host.CloseConnectionsAsync(c => c.PrivateNetworkKey is null || !keys.Contains(c.PrivateNetworkKey)).ConfigureAwait(false);
        return await RelistenAsync(host, closed, cancellationToken).ConfigureAwait(false);
    }

    public static async Task<IReadOnlyList<Multiaddr>> LeaveAsync(P2PHost host, CancellationToken cancellationToken)
    {
        var closed = await host.StopListeningAsync(cancellationToken).ConfigureAwait(false);
        host.SetPrivateNetworkKeys(null);
        await host.CloseConnectionsAsync(c => c.PrivateNetworkKey is not null).ConfigureAwait(false);
        return await RelistenAsync(host, closed, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<IReadOnlyList<Multiaddr>> RelistenAsync(P2PHost host, IReadOnlyList<Multiaddr> addresses, CancellationToken cancellationToken)
    {
        var result = new List<Multiaddr>();
        foreach (var address in addresses)
        {
            result.AddRange(await host.ListenAsync(address, cancellationToken).ConfigureAwait(false));
        }
        return result;
    }
}
