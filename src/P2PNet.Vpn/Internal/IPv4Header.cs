using System.Buffers.Binary;

namespace P2PNet.Vpn.Internal;

/// <summary>Reads what routing needs from an IPv4 header (RFC 791 §3.1): version, source and destination.</summary>
internal static class IPv4Header
{
    public const int MinLength = 20;

    public static bool TryRead(ReadOnlySpan<byte> packet, out uint source, out uint destination)
    {
        source = destination = 0;
        if (packet.Length < MinLength || (packet[0] >> 4) != 4)
        {
            return false;
        }
        source = BinaryPrimitives.ReadUInt32BigEndian(packet[12..]);
        destination = BinaryPrimitives.ReadUInt32BigEndian(packet[16..]);
        return true;
    }
}
