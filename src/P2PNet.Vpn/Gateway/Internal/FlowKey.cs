using System.Buffers.Binary;
using System.Net;

namespace P2PNet.Vpn.Gateway.Internal;

/// <summary>A flow as the member sees it: its address and port, the Internet destination's address and port (IPv4
/// values in host order).</summary>
internal readonly record struct FlowKey(uint Member, ushort MemberPort, uint Destination, ushort DestinationPort)
{
    public IPEndPoint MemberEndPoint => new(ToAddress(Member), MemberPort);

    public IPEndPoint DestinationEndPoint => new(ToAddress(Destination), DestinationPort);

    public static IPAddress ToAddress(uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return new IPAddress(bytes);
    }

    public static uint ToValue(IPAddress address) => BinaryPrimitives.ReadUInt32BigEndian(address.GetAddressBytes());

    public override string ToString() => $"{MemberEndPoint} -> {DestinationEndPoint}";
}
