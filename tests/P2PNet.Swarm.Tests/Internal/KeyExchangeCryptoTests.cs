using System.Security.Cryptography;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using P2PNet.Crypto;
using P2PNet.Swarm.Internal;

namespace P2PNet.Swarm.Tests;

/// <summary>The sealing of a swarm key: round trip, and any change of context or ciphertext fails.</summary>
public sealed class KeyExchangeCryptoTests
{
    private static readonly P2PNet.Peers.PeerId Owner = PrivateKey.GenerateEd25519().PublicKey.ToPeerId();
    private static readonly P2PNet.Peers.PeerId Requester = PrivateKey.GenerateEd25519().PublicKey.ToPeerId();

    [Property(MaxTest = 50)]
    public Property SealThenOpen_AnyKeyAndNonce_RoundTrips()
    {
        return Prop.ForAll(Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>(), 32).ToArbitrary(), Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>(), 32).ToArbitrary(), (key, nonce) =>
        {
            var (x25519, x25519Public) = KeyExchangeCrypto.NewX25519();
            var (ephemeral, sealedKey) = KeyExchangeCrypto.Seal(key, x25519Public, "s", Owner, Requester, nonce);
            return KeyExchangeCrypto.Open(x25519, ephemeral, sealedKey, "s", Owner, Requester, nonce).AsSpan().SequenceEqual(key);
        });
    }

    [Fact]
    public void Open_WithAnyContextChanged_Fails()
    {
        var key = RandomNumberGenerator.GetBytes(32);
        var nonce = RandomNumberGenerator.GetBytes(32);
        var (x25519, x25519Public) = KeyExchangeCrypto.NewX25519();
        var (ephemeral, sealedKey) = KeyExchangeCrypto.Seal(key, x25519Public, "s", Owner, Requester, nonce);
        var (otherX25519, _) = KeyExchangeCrypto.NewX25519();

        Assert.ThrowsAny<CryptographicException>(() => KeyExchangeCrypto.Open(x25519, ephemeral, sealedKey, "t", Owner, Requester, nonce));
        Assert.ThrowsAny<CryptographicException>(() => KeyExchangeCrypto.Open(x25519, ephemeral, sealedKey, "s", Requester, Owner, nonce));
        Assert.ThrowsAny<CryptographicException>(() => KeyExchangeCrypto.Open(x25519, ephemeral, sealedKey, "s", Owner, Requester, new byte[32]));
        Assert.ThrowsAny<CryptographicException>(() => KeyExchangeCrypto.Open(otherX25519, ephemeral, sealedKey, "s", Owner, Requester, nonce));
        var flipped = (byte[])sealedKey.Clone();
        flipped[3] ^= 1;
        Assert.ThrowsAny<CryptographicException>(() => KeyExchangeCrypto.Open(x25519, ephemeral, flipped, "s", Owner, Requester, nonce));
    }

    [Fact]
    public void Seal_ToALowOrderPoint_IsRefused()
    {
        Assert.ThrowsAny<CryptographicException>(() =>
            KeyExchangeCrypto.Seal(new byte[32], new byte[32], "s", Owner, Requester, new byte[32]));
    }

    [Fact]
    public void NonceCache_RefusesReplays_AndWhenFullOfLiveNonces()
    {
        var now = DateTimeOffset.UtcNow;
        var cache = new NonceCache(2, 2);
        Assert.Equal(NonceCache.Result.Added, cache.TryAdd("peer", [1], now.AddMinutes(1), now));
        Assert.Equal(NonceCache.Result.Replayed, cache.TryAdd("peer", [1], now.AddMinutes(1), now));
        Assert.Equal(NonceCache.Result.Added, cache.TryAdd("peer", [2], now.AddSeconds(1), now));
        Assert.Equal(NonceCache.Result.Full, cache.TryAdd("peer", [3], now.AddMinutes(1), now));
        // Once nonce 2 expires its slot is reused.
        Assert.Equal(NonceCache.Result.Added, cache.TryAdd("peer", [3], now.AddMinutes(1), now.AddSeconds(2)));
        Assert.Equal(2, cache.Count);
    }
}
