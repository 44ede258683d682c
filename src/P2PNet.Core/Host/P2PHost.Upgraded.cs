using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Protocols.Relay.Internal;
using P2PNet.Resources.Internal;
using P2PNet.Transports;

namespace P2PNet.Host;

/// <summary>The seam through which connections that did not come from a transport listener or dial (a relayed
/// stream, libp2p/specs relay/circuit-v2.md) are upgraded and registered like any other.</summary>
public sealed partial class P2PHost
{
    private readonly List<Multiaddr> _circuitAddresses = [];
    private readonly Dictionary<PeerId, int> _protectedPeers = [];

    /// <summary>Our <c>/p2p-circuit</c> addresses (from relay reservations), each ending in <c>/p2p/&lt;our id&gt;</c>.</summary>
    private Multiaddr[] CircuitAddresses
    {
        get
        {
            lock (_circuitAddresses)
            {
                return [.. _circuitAddresses];
            }
        }
    }

    /// <summary>Dials <c>…/p2p/&lt;relay&gt;/p2p-circuit</c> to <paramref name="expected"/> through the relay.</summary>
    private async Task<P2PConnection> DialCircuitAsync(Multiaddr address, PeerId? expected, CancellationToken cancellationToken)
    {
        if (expected is null)
        {
            throw new ArgumentException($"A circuit address must end in /p2p/<destination id>: {address}.", nameof(address));
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        timeout.CancelAfter(Options.DialTimeout);
        try
        {
            var connection = await RelayDialer.DialAsync(this, address, expected, timeout.Token).ConfigureAwait(false);
            PeerStore.AddAddresses(connection.RemotePeer, [address]);
            return connection;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && !_stopping.IsCancellationRequested)
        {
            throw new TimeoutException($"Dialing {address} did not complete within {Options.DialTimeout.TotalSeconds:0.#} s.");
        }
    }

    /// <summary>Adds (or removes) circuit addresses we can be reached at, and tells listeners and connected peers.</summary>
    internal void UpdateCircuitAddresses(IReadOnlyList<Multiaddr> changed, bool removed)
    {
        var withId = changed.Select(a => a.WithPeerId(PeerId)).ToArray();
        Multiaddr[] effective;
        lock (_circuitAddresses)
        {
            effective = removed
                ? [.. withId.Where(a => _circuitAddresses.Remove(a))]
                : [.. withId.Where(a => !_circuitAddresses.Contains(a)).Distinct()];
            if (!removed)
            {
                _circuitAddresses.AddRange(effective);
            }
        }
        if (effective.Length == 0)
        {
            return;
        }
        Events.Publish(new LocalAddressesUpdated(ListenAddresses, removed ? [] : effective, removed ? effective : []));
        if (_state == 1)
        {
            _identify.PushToAll();
        }
    }

    /// <summary>Keeps (or stops keeping) connections to <paramref name="peer"/> open through idle periods: a relay
    /// reservation lasts only while its connection does. Counted, so two holders can protect one peer.</summary>
    internal void ProtectPeer(PeerId peer, bool protect)
    {
        lock (_protectedPeers)
        {
            int count = _protectedPeers.GetValueOrDefault(peer) + (protect ? 1 : -1);
            if (count > 0)
            {
                _protectedPeers[peer] = count;
            }
            else
            {
                _protectedPeers.Remove(peer);
            }
        }
    }

    internal bool IsProtected(PeerId peer)
    {
        lock (_protectedPeers)
        {
            return _protectedPeers.ContainsKey(peer);
        }
    }
}
