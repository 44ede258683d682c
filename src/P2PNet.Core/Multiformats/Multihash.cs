using System.Security.Cryptography;

namespace P2PNet.Multiformats;

/// <summary>A multihash: a hash function code, the digest length and the digest, as one byte string.</summary>
/// <remarks>P2PNet understands the two functions peer ids use: <c>identity</c> (0x00) and <c>sha2-256</c> (0x12).
/// Other codes parse as long as the structure is valid.</remarks>
public static class Multihash
{
    /// <summary>The identity "hash": the digest is the input itself.</summary>
    public const int IdentityCode = 0x00;

    /// <summary>SHA-256.</summary>
    public const int Sha256Code = 0x12;

    /// <summary>The longest digest P2PNet accepts in a multihash.</summary>
    public const int MaxDigestLength = 1024;

    /// <summary>Builds the identity multihash of <paramref name="data"/>.</summary>
    public static byte[] Identity(ReadOnlySpan<byte> data) => Encode(IdentityCode, data);

    /// <summary>Builds the sha2-256 multihash of <paramref name="data"/>.</summary>
    public static byte[] Sha256(ReadOnlySpan<byte> data)
    {
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(data, digest);
        return Encode(Sha256Code, digest);
    }

    /// <summary>Encodes a code and digest as a multihash.</summary>
    public static byte[] Encode(int code, ReadOnlySpan<byte> digest)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(code);
        var result = new byte[Varint.GetByteCount((ulong)code) + Varint.GetByteCount((ulong)digest.Length) + digest.Length];
        int n = Varint.Write(result, (ulong)code);
        n += Varint.Write(result.AsSpan(n), (ulong)digest.Length);
        digest.CopyTo(result.AsSpan(n));
        return result;
    }

    /// <summary>Splits a multihash that must span all of <paramref name="multihash"/> into its code and digest.</summary>
    /// <exception cref="WireFormatException">The bytes are not exactly one valid multihash.</exception>
    public static (int Code, ReadOnlyMemory<byte> Digest) Decode(ReadOnlyMemory<byte> multihash)
    {
        int length = GetLength(multihash.Span, out int code, out int digestOffset, out int digestLength);
        if (length != multihash.Length)
        {
            throw new WireFormatException($"Multihash has {multihash.Length - length} unexpected trailing bytes.");
        }
        return (code, multihash.Slice(digestOffset, digestLength));
    }

    /// <summary>Validates the multihash at the start of <paramref name="source"/> and returns its total length.</summary>
    /// <exception cref="WireFormatException">The input does not start with a valid multihash.</exception>
    public static int GetLength(ReadOnlySpan<byte> source, out int code, out int digestOffset, out int digestLength)
    {
        code = Varint.ReadInt32(source, out int n1);
        digestLength = Varint.ReadInt32(source[n1..], out int n2);
        digestOffset = n1 + n2;
        if (digestLength > MaxDigestLength)
        {
            throw new WireFormatException($"Multihash digest length {digestLength} exceeds {MaxDigestLength}.");
        }
        if (code == Sha256Code && digestLength != 32)
        {
            throw new WireFormatException($"A sha2-256 multihash must have a 32-byte digest, not {digestLength}.");
        }
        if (source.Length - digestOffset < digestLength)
        {
            throw new WireFormatException($"Multihash digest is truncated: {digestLength} bytes declared, {source.Length - digestOffset} present.");
        }
        return digestOffset + digestLength;
    }
}
