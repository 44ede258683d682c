using P2PNet.Host.Internal;
using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Host;

/// <summary>Dialling by peer id when no address is known: the host asks its <see cref="PeerRouting"/>.</summary>
public sealed partial class P2PHost
{
    /// <summary>Set while an async flow is the peer routing's own work (a lookup): its dials by peer id are not routed
    /// again, so a lookup that meets a peer without addresses cannot start another lookup, and so on.</summary>
    private static readonly AsyncLocal<bool> s_inPeerRouting = new();

    private IPeerRouting? _peerRouting;

    /// <summary>
    /// Where <see cref="DialAsync(PeerId, CancellationToken)"/> (and so <see cref="OpenStreamAsync(PeerId, string, CancellationToken)"/>)
    /// looks for a peer's addresses when the <see cref="PeerStore"/> has none; the addresses found are added to the peer
    /// store. A started <see cref="Protocols.Dht.KadDht"/> installs itself here when nothing else is set, and removes itself
    /// when disposed. Default none: such a dial fails with <see cref="PeerNotFoundException"/>.
    /// </summary>
    public IPeerRouting? PeerRouting
    {
        get => Volatile.Read(ref _peerRouting);
        set => Volatile.Write(ref _peerRouting, value);
    }

    /// <summary>Installs <paramref name="routing"/> unless another routing is set; true when it is now the host's.</summary>
    internal bool TryInstallPeerRouting(IPeerRouting routing) =>
        Interlocked.CompareExchange(ref _peerRouting, routing, null) is null || PeerRouting == routing;

    /// <summary>Removes <paramref name="routing"/> if it is the one installed.</summary>
    internal void UninstallPeerRouting(IPeerRouting routing) => Interlocked.CompareExchange(ref _peerRouting, null, routing);

    /// <summary>
    /// Marks the calling async flow as peer-routing work: dials by peer id made in it (and in the tasks it starts) do not
    /// ask <see cref="PeerRouting"/>. Call it at the top of an async method: the mark ends when that method returns.
    /// </summary>
    internal static void MarkPeerRoutingFlow() => s_inPeerRouting.Value = true;

    /// <summary>Asks the peer routing for <paramref name="peer"/>'s addresses and stores the dialable ones; empty when there is
    /// no routing, we are inside one of its lookups, or it found nothing.</summary>
    private async Task<IReadOnlyList<Multiaddr>> RoutePeerAsync(PeerId peer, CancellationToken cancellationToken)
    {
        var routing = PeerRouting;
        if (routing is null || s_inPeerRouting.Value)
        {
            return [];
        }
        MarkPeerRoutingFlow();
        IReadOnlyList<Multiaddr> found;
        try
        {
            found = await routing.FindPeerAsync(peer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or TimeoutException or ObjectDisposedException
            || e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            PeerRoutingLog.Failed(_logger, peer, e.Message);
            return [];
        }
        var dialable = found.Select(a => a.WithoutPeerId()).Where(CanDial).Distinct().ToArray();
        PeerRoutingLog.Found(_logger, peer, dialable.Length);
        if (dialable.Length > 0)
        {
            PeerStore.AddAddresses(peer, dialable);
        }
        return dialable;
    }
}
