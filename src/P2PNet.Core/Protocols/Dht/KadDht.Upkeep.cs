using System.Security.Cryptography;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Protocols.Dht.Internal;
using P2PNet.Protocols.Dht.Protos;

namespace P2PNet.Protocols.Dht;

/// <summary>Upkeep of the routing table and the stores: liveness checks of full buckets' least recently seen peers,
/// periodic refresh (kad-dht spec, "Bootstrap process"), republishing of what we provide and put, expiry.</summary>
public sealed partial class KadDht
{
    /// <summary>Liveness checks in flight at most; a full bucket seen while as many run waits for the next newcomer.</summary>
    private const int MaxLivenessChecks = 8;

    /// <summary>Buckets refreshed with a random key go down to this common prefix length (as go-libp2p-kad-dht): a key
    /// falling deeper takes 2^(i+1) hashes on average to find, and deeper buckets are tiny anyway.</summary>
    private const int MaxRefreshedBucket = 15;

    private readonly HashSet<PeerId> _checking = [];
    private readonly Dictionary<string, (byte[] Key, byte[]? Value)> _republished = new(StringComparer.Ordinal);
    private readonly LinkedList<string> _republishOrder = new();

    /// <summary>Runs one refresh now: expired records and providers deleted, a lookup of our own id, then one of a random
    /// key in each bucket no lookup touched within <see cref="KadDhtOptions.RefreshInterval"/>. Also run every
    /// <see cref="KadDhtOptions.RefreshInterval"/> once started.</summary>
    public async Task RefreshAsync(CancellationToken cancellationToken = default)
    {
        P2PHost.MarkPeerRoutingFlow();
        _store.RemoveExpired(_time.GetUtcNow());
        long started = _time.GetTimestamp();
        await BootstrapAsync(cancellationToken).ConfigureAwait(false);
        var interval = _options.RefreshInterval == Timeout.InfiniteTimeSpan ? TimeSpan.Zero : _options.RefreshInterval;
        long before = started - (long)(interval.TotalSeconds * _time.TimestampFrequency);
        foreach (int bucket in _table.StaleBuckets(before, MaxRefreshedBucket))
        {
            if (RandomKeyIn(bucket) is { } key)
            {
                await GetClosestPeersAsync(key, cancellationToken).ConfigureAwait(false);
            }
        }
        DhtLog.Refreshed(_logger, _table.Count);
    }

    /// <summary>Announces again every key we provide and every record we put (see <see cref="KadDhtOptions.RepublishInterval"/>).</summary>
    private async Task RepublishAsync(CancellationToken cancellationToken)
    {
        (byte[] Key, byte[]? Value)[] items;
        lock (_republished)
        {
            items = [.. _republished.Values];
        }
        foreach (var (key, value) in items)
        {
            if (value is null)
            {
                await ProvideAsync(key, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                var now = _time.GetUtcNow();
                _store.PutRecord(new StoredRecord(key, value, now, now + _options.RecordTtl), now);
                await SendRecordAsync(key, value, cancellationToken).ConfigureAwait(false);
            }
        }
        DhtLog.Republished(_logger, items.Length);
    }

    /// <summary>Remembers a key we provide (no value) or a record we put, to be republished; the oldest is forgotten
    /// beyond <see cref="KadDhtOptions.MaxRepublished"/>.</summary>
    private void RememberRepublished(string id, (byte[] Key, byte[]? Value) item)
    {
        lock (_republished)
        {
            string slot = (item.Value is null ? "p:" : "v:") + id;
            if (_republished.Remove(slot))
            {
                _republishOrder.Remove(slot);
            }
            _republished[slot] = item;
            _republishOrder.AddLast(slot);
            while (_republished.Count > _options.MaxRepublished && _republishOrder.First is { } oldest)
            {
                _republished.Remove(oldest.Value);
                _republishOrder.RemoveFirst();
            }
        }
    }

    private void StartUpkeep()
    {
        if (_options.RefreshInterval != Timeout.InfiniteTimeSpan)
        {
            _tasks.Track(EveryAsync(_options.RefreshInterval, RefreshAsync));
        }
        if (_options.RepublishInterval != Timeout.InfiniteTimeSpan)
        {
            _tasks.Track(EveryAsync(_options.RepublishInterval, RepublishAsync));
        }
    }

    private async Task EveryAsync(TimeSpan interval, Func<CancellationToken, Task> work)
    {
        using var timer = new PeriodicTimer(interval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                try
                {
                    await work(_stopping.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    DhtLog.UpkeepFailed(_logger, e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
    }

    /// <summary>A full bucket met a newcomer: checks its least recently seen peer (unless too many checks run).</summary>
    private void OnBucketFull(PeerId leastRecentlySeen)
    {
        lock (_checking)
        {
            if (_stopping.IsCancellationRequested || _checking.Count >= MaxLivenessChecks || !_checking.Add(leastRecentlySeen))
            {
                return;
            }
        }
        _tasks.Track(CheckLivenessAsync(leastRecentlySeen));
    }

    /// <summary>A peer we are connected to is alive; another must answer a kad <c>PING</c> (dialling it) within the
    /// request timeout. A live peer is marked seen; a dead one is evicted and the freshest replacement promoted.</summary>
    private async Task CheckLivenessAsync(PeerId peer)
    {
        await Task.Yield();
        try
        {
            bool alive = _host.GetConnections(peer).Count > 0 || await TrySendAsync(peer, new PbKadMessage { Type = PbKadMessage.Types.MessageType.Ping }, _stopping.Token).ConfigureAwait(false);
            if (alive)
            {
                _table.TryAdd(peer);
            }
            else if (!_stopping.IsCancellationRequested)
            {
                _table.Remove(peer);
                DhtLog.Evicted(_logger, peer);
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
        finally
        {
            lock (_checking)
            {
                _checking.Remove(peer);
            }
        }
    }

    /// <summary>A random key whose point falls in <paramref name="bucket"/>, or null if none was found in a bounded
    /// number of tries (each try has a 2^-(bucket+1) chance).</summary>
    private byte[]? RandomKeyIn(int bucket)
    {
        byte[] key = new byte[32];
        int tries = 1 << Math.Min(bucket + 4, 20);
        for (int i = 0; i < tries; i++)
        {
            RandomNumberGenerator.Fill(key);
            if (_table.BucketOf(KadKey.Of(key)) == bucket)
            {
                return key;
            }
        }
        return null;
    }

    /// <summary>Whether <paramref name="peer"/> is in the routing table (tests).</summary>
    internal bool InRoutingTable(PeerId peer) => _table.Contains(peer);

    private bool AddProvider(byte[] key, PeerId peer, IReadOnlyList<Multiaddr> addresses)
    {
        var now = _time.GetUtcNow();
        return _store.AddProvider(key, peer, addresses, now + _options.ProviderTtl, now);
    }

    private IReadOnlyList<DhtProvider> GetProviders(byte[] key) => _store.GetProviders(key, _time.GetUtcNow());
}
