using System.Security.Cryptography;

namespace P2PNet.Protocols.Dht.Internal;

/// <summary>A point of the Kademlia key space: the SHA-256 of a key or of a peer id's bytes (libp2p/specs kad-dht,
/// "Distance"). Distances are XORs of points, compared as big-endian 256-bit numbers.</summary>
internal readonly struct KadKey : IEquatable<KadKey>
{
    public const int Bits = 256;

    private readonly byte[] _hash;

    private KadKey(byte[] hash) => _hash = hash;

    /// <summary>The point of <paramref name="key"/> (a peer id's bytes, a CID, a record key).</summary>
    public static KadKey Of(ReadOnlySpan<byte> key) => new(SHA256.HashData(key));

    /// <summary>How many leading bits two points share: the bucket a peer falls in, seen from us (256 for equal points).</summary>
    public int CommonPrefixLength(KadKey other)
    {
        for (int i = 0; i < _hash.Length; i++)
        {
            int x = _hash[i] ^ other._hash[i];
            if (x != 0)
            {
                return i * 8 + System.Numerics.BitOperations.LeadingZeroCount((uint)x) - 24;
            }
        }
        return Bits;
    }

    /// <summary>Negative when <paramref name="a"/> is closer to this point than <paramref name="b"/>, zero when as close.</summary>
    public int CompareDistance(KadKey a, KadKey b)
    {
        for (int i = 0; i < _hash.Length; i++)
        {
            int da = _hash[i] ^ a._hash[i];
            int db = _hash[i] ^ b._hash[i];
            if (da != db)
            {
                return da < db ? -1 : 1;
            }
        }
        return 0;
    }

    public bool Equals(KadKey other) => _hash.AsSpan().SequenceEqual(other._hash);

    public override bool Equals(object? obj) => obj is KadKey other && Equals(other);

    public override int GetHashCode() => BitConverter.ToInt32(_hash, 0);
}
