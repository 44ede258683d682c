using P2PNet.Multiformats;
using SimpleBase;

namespace P2PNet.Cli.Commands;

/// <summary>
/// A CID given on the command line (multiformats/cid): CIDv0 (<c>Qm…</c>, a base58btc sha2-256 multihash) or CIDv1 in
/// any multibase (<c>bafy…</c>). The DHT keys provider records by the CID's multihash, not the whole CID: that is what
/// go- and js-libp2p put on the wire, so a CIDv0 and a CIDv1 of the same content meet under one key.
/// </summary>
internal sealed record ContentId(string Text, byte[] Multihash)
{
    /// <summary>Parses <paramref name="text"/>.</summary>
    /// <exception cref="ArgumentException">Not a CID (a usage error: exit code 2).</exception>
    public static ContentId Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        text = text.Trim();
        try
        {
            return new ContentId(text, DecodeMultihash(text));
        }
        catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException or WireFormatException
            or IndexOutOfRangeException)
        {
            throw new ArgumentException($"bad cid '{text}': {e.Message}", e);
        }
    }

    private static byte[] DecodeMultihash(string text)
    {
        if (text.Length is < 2 or > 500 || text.AsSpan().ContainsAnyExceptInRange('!', '~'))
        {
            // Printable ASCII only: SimpleBase's decoders index tables by character.
            throw new FormatException("expected a CIDv0 (Qm…) or a multibase CIDv1 (bafy…).");
        }
        if (text.Length == 46 && text.StartsWith("Qm", StringComparison.Ordinal))
        {
            return CheckMultihash(Base58.Bitcoin.Decode(text)); // CIDv0: the multihash itself
        }
        byte[] cid = SimpleBase.Multibase.Decode(text);
        int version = Varint.ReadInt32(cid, out int versionLength);
        if (version != 1)
        {
            throw new FormatException($"CID version {version}: expected a CIDv1 in a multibase, or a CIDv0 (Qm…).");
        }
        _ = Varint.ReadInt32(cid.AsSpan(versionLength), out int codecLength); // any codec: raw, dag-pb, dag-cbor, …
        return CheckMultihash(cid[(versionLength + codecLength)..]);
    }

    /// <summary>The bytes must be exactly one multihash.</summary>
    private static byte[] CheckMultihash(byte[] bytes)
    {
        _ = Multiformats.Multihash.Decode(bytes);
        return bytes;
    }
}
