using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Protocols.Dht.Internal;

/// <summary>A value record as stored: the key, the value, when it was received and when it expires.</summary>
internal sealed record StoredRecord(byte[] Key, byte[] Value, DateTimeOffset Received, DateTimeOffset Expires);

/// <summary>
/// Where a <see cref="KadDht"/> keeps the provider and value records others (and it) put: in memory
/// (<see cref="MemoryDhtStore"/>) or in a SQLite file (<see cref="SqliteDhtStore"/>). Both apply the same bounds
/// (<see cref="KadDhtOptions.MaxProvidersPerKey"/>, <see cref="KadDhtOptions.MaxProviderKeys"/>,
/// <see cref="KadDhtOptions.MaxRecords"/>) and never return an expired entry.
/// </summary>
/// <remarks>Thread-safe. Synchronous: both stores are local and fast (one small SQLite statement per call).</remarks>
internal interface IDhtStore : IDisposable
{
    /// <summary>Opens the backing file, if any (never from a constructor).</summary>
    void Open();

    /// <summary>Records <paramref name="peer"/> as a provider of <paramref name="key"/> until <paramref name="expires"/>
    /// (replacing its earlier entry); the key's oldest entries beyond the per-key bound are dropped. False when the
    /// store holds as many keys as it may (after removing expired ones) and this key is new.</summary>
    bool AddProvider(byte[] key, PeerId peer, IReadOnlyList<Multiaddr> addresses, DateTimeOffset expires, DateTimeOffset now);

    /// <summary>The providers of <paramref name="key"/> that have not expired at <paramref name="now"/>.</summary>
    IReadOnlyList<DhtProvider> GetProviders(byte[] key, DateTimeOffset now);

    /// <summary>Stores <paramref name="record"/> (replacing the key's earlier one); false when the store holds as
    /// many records as it may (after removing expired ones) and the key is new.</summary>
    bool PutRecord(StoredRecord record, DateTimeOffset now);

    /// <summary>The record of <paramref name="key"/> unless absent or expired at <paramref name="now"/>.</summary>
    StoredRecord? GetRecord(byte[] key, DateTimeOffset now);

    /// <summary>Deletes every entry expired at <paramref name="now"/>; returns how many.</summary>
    int RemoveExpired(DateTimeOffset now);

    /// <summary>Records stored (expired ones included until removed).</summary>
    int RecordCount { get; }

    /// <summary>Keys with providers stored (expired ones included until removed).</summary>
    int ProviderKeyCount { get; }
}
