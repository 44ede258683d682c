using P2PNet.Crypto;
using P2PNet.Multiformats;

namespace P2PNet.Core.Tests.Crypto;

/// <summary>Writes libp2p key envelopes by hand (field 1 varint type, field 2 bytes data), independently of the code
/// under test, so tests can wrap keys made with .NET's own crypto or hand-crafted bad data.</summary>
internal static class KeyEnvelopes
{
    public static byte[] Encode(KeyType type, ReadOnlySpan<byte> data) => Encode((int)type, data);

    public static byte[] Encode(int type, ReadOnlySpan<byte> data) =>
        [0x08, .. Varint.Encode((ulong)type), 0x12, .. Varint.Encode((ulong)data.Length), .. data];
}
