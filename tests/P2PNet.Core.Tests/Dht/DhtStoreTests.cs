using P2PNet.Crypto;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Protocols.Dht;
using P2PNet.Protocols.Dht.Internal;

namespace P2PNet.Core.Tests.Dht;

/// <summary>Both record stores (memory, SQLite) keep their bounds and expire entries; the SQLite one survives a restart.</summary>
public sealed class DhtStoreTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly string _directory = Directory.CreateTempSubdirectory("p2pnet-dht-").FullName;

    public static TheoryData<string> Kinds => ["memory", "sqlite"];

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Records_HoldTheirCountBound_ButAnExistingKeyMayBeUpdated(string kind)
    {
        using var store = Open(kind, new KadDhtOptions { MaxRecords = 3 });
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(i < 3, store.PutRecord(Record(i, T0.AddHours(1)), T0));
        }
        Assert.Equal(3, store.RecordCount);
        Assert.True(store.PutRecord(Record(0, T0.AddHours(2), value: 9), T0));
        Assert.Equal([9], store.GetRecord(Key(0), T0)!.Value);
        Assert.Null(store.GetRecord(Key(4), T0));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Providers_HoldTheirPerKeyAndKeyBounds_KeepingTheMostRecent(string kind)
    {
        using var store = Open(kind, new KadDhtOptions { MaxProvidersPerKey = 2, MaxProviderKeys = 2 });
        var peers = Enumerable.Range(0, 4).Select(_ => PrivateKey.GenerateEd25519().PublicKey.ToPeerId()).ToArray();
        Multiaddr[] addresses = [Multiaddr.Parse("/ip4/10.0.0.1/tcp/4001")];
        for (int i = 0; i < peers.Length; i++)
        {
            Assert.True(store.AddProvider(Key(0), peers[i], addresses, T0.AddHours(1 + i), T0));
        }
        var kept = store.GetProviders(Key(0), T0);
        Assert.Equal(new HashSet<PeerId>(peers[2..]), kept.Select(p => p.Peer).ToHashSet());
        Assert.Equal(addresses, kept[0].Addresses);
        Assert.True(store.AddProvider(Key(1), peers[0], addresses, T0.AddHours(1), T0));
        Assert.False(store.AddProvider(Key(2), peers[0], addresses, T0.AddHours(1), T0));
        Assert.Equal(2, store.ProviderKeyCount);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Expiry_HidesEntriesAtOnce_AndRemovesTheirRows(string kind)
    {
        using var store = Open(kind, new KadDhtOptions { MaxRecords = 2 });
        var peer = PrivateKey.GenerateEd25519().PublicKey.ToPeerId();
        store.PutRecord(Record(0, T0.AddHours(1)), T0);
        store.PutRecord(Record(1, T0.AddHours(3)), T0);
        store.AddProvider(Key(0), peer, [], T0.AddHours(1), T0);
        var later = T0.AddHours(2);
        Assert.Null(store.GetRecord(Key(0), later));
        Assert.Empty(store.GetProviders(Key(0), later));
        Assert.NotNull(store.GetRecord(Key(1), later));
        Assert.Equal(2, store.RemoveExpired(later)); // record 0 and the provider
        Assert.Equal(1, store.RecordCount);
        Assert.Equal(0, store.ProviderKeyCount);
        // A full store makes room by dropping expired rows.
        Assert.True(store.PutRecord(Record(2, T0.AddHours(3)), later));
        Assert.Equal(2, store.RecordCount);
        Assert.True(store.PutRecord(Record(3, T0.AddHours(9)), T0.AddHours(4)));
        Assert.Equal(1, store.RecordCount);
    }

    [Fact]
    public void TheSqliteStore_ReopenedOnTheSameFile_StillHasItsRecordsAndProviders()
    {
        var options = new KadDhtOptions();
        var peer = PrivateKey.GenerateEd25519().PublicKey.ToPeerId();
        using (var store = Open("sqlite", options))
        {
            store.PutRecord(Record(0, T0.AddHours(36)), T0);
            store.AddProvider(Key(1), peer, [Multiaddr.Parse("/ip4/10.0.0.1/tcp/4001")], T0.AddHours(48), T0);
        }
        using var reopened = Open("sqlite", options);
        Assert.Equal([0], reopened.GetRecord(Key(0), T0)!.Value);
        Assert.Equal(T0, reopened.GetRecord(Key(0), T0)!.Received);
        Assert.Equal(peer, Assert.Single(reopened.GetProviders(Key(1), T0)).Peer);
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    private IDhtStore Open(string kind, KadDhtOptions options)
    {
        IDhtStore store = kind == "sqlite" ? new SqliteDhtStore(Path.Combine(_directory, "dht.db"), options) : new MemoryDhtStore(options);
        store.Open();
        return store;
    }

    private static byte[] Key(int i) => [.. "/test/"u8, (byte)('a' + i)];

    private static StoredRecord Record(int i, DateTimeOffset expires, byte? value = null) => new(Key(i), [value ?? (byte)i], T0, expires);
}
