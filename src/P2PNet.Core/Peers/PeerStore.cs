using P2PNet.Crypto;
using P2PNet.Multiformats;

namespace P2PNet.Peers;

/// <summary>
/// What the host knows about other peers: addresses, public keys, protocols and agents, learnt from dials,
/// identify and discovery. Bounded: at most <see cref="MaxPeers"/> peers (least recently updated evicted first)
/// and <see cref="MaxAddressesPerPeer"/> addresses each.
/// </summary>
/// <remarks>Thread-safe.</remarks>
public sealed class PeerStore
{
    /// <summary>Most peers remembered.</summary>
    public const int MaxPeers = 10_000;

    /// <summary>Most addresses remembered per peer.</summary>
    public const int MaxAddressesPerPeer = 32;

    /// <summary>Most protocols remembered per peer.</summary>
    public const int MaxProtocolsPerPeer = 256;

    private readonly Dictionary<PeerId, PeerRecord> _peers = [];
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;

    /// <summary>Creates an empty store.</summary>
    public PeerStore(TimeProvider? timeProvider = null) => _time = timeProvider ?? TimeProvider.System;

    /// <summary>Raised after a record is added or changed (outside the store's lock).</summary>
    public event Action<PeerRecord>? Updated;

    /// <summary>All known peers.</summary>
    public IReadOnlyList<PeerRecord> Peers
    {
        get
        {
            lock (_lock)
            {
                return [.. _peers.Values];
            }
        }
    }

    /// <summary>The record of <paramref name="peer"/>, if known.</summary>
    public PeerRecord? Get(PeerId peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        lock (_lock)
        {
            return _peers.GetValueOrDefault(peer);
        }
    }

    /// <summary>Remembers addresses of <paramref name="peer"/> (a trailing <c>/p2p</c> is removed).</summary>
    public PeerRecord AddAddresses(PeerId peer, IEnumerable<Multiaddr> addresses) =>
        Update(peer, r => r with { Addresses = Merge(r.Addresses, addresses.Select(a => a.WithoutPeerId())) });

    /// <summary>Records what identify said about <paramref name="peer"/>; listen addresses and protocols replace the old ones.</summary>
    public PeerRecord ApplyIdentify(PeerId peer, PublicKey? publicKey, IReadOnlyList<Multiaddr>? listenAddresses,
        IReadOnlyList<string>? protocols, string? agentVersion, string? protocolVersion, Multiaddr? observedAddress) =>
        Update(peer, r => r with
        {
            PublicKey = publicKey ?? r.PublicKey,
            Addresses = listenAddresses is null ? r.Addresses : Merge([], listenAddresses.Select(a => a.WithoutPeerId())),
            Protocols = protocols is null ? r.Protocols : [.. protocols.Distinct().Take(MaxProtocolsPerPeer)],
            AgentVersion = agentVersion ?? r.AgentVersion,
            ProtocolVersion = protocolVersion ?? r.ProtocolVersion,
            ObservedAddress = observedAddress ?? r.ObservedAddress,
        });

    /// <summary>Puts a stored record back (at load time), without raising <see cref="Updated"/>; a known peer is kept as is.</summary>
    internal void Restore(PeerRecord record)
    {
        lock (_lock)
        {
            if (_peers.Count < MaxPeers)
            {
                _peers.TryAdd(record.Peer, record);
            }
        }
    }

    /// <summary>Forgets <paramref name="peer"/>.</summary>
    public bool Remove(PeerId peer)
    {
        lock (_lock)
        {
            return _peers.Remove(peer);
        }
    }

    private PeerRecord Update(PeerId peer, Func<PeerRecord, PeerRecord> change)
    {
        ArgumentNullException.ThrowIfNull(peer);
        PeerRecord updated;
        lock (_lock)
        {
            if (!_peers.TryGetValue(peer, out var current))
            {
                if (_peers.Count >= MaxPeers)
                {
                    var oldest = _peers.Values.MinBy(r => r.LastSeen)!;
                    _peers.Remove(oldest.Peer);
                }
                current = new PeerRecord(peer, SafeInlineKey(peer), [], [], null, null, null, _time.GetUtcNow());
            }
            updated = change(current) with { LastSeen = _time.GetUtcNow() };
            _peers[peer] = updated;
        }
        Updated?.Invoke(updated);
        return updated;
    }

    private static PublicKey? SafeInlineKey(PeerId peer)
    {
        try
        {
            return peer.TryGetPublicKey();
        }
        catch (WireFormatException)
        {
            return null;
        }
    }

    private static Multiaddr[] Merge(IEnumerable<Multiaddr> existing, IEnumerable<Multiaddr> added) =>
        existing.Concat(added).Distinct().Take(MaxAddressesPerPeer).ToArray();
}
