using System.Net;
using Google.Protobuf;
using P2PNet.Crypto;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Vpn.Protos;

namespace P2PNet.Vpn.Internal;

/// <summary>Converts routing tables to and from their signed wire form. The signature covers a domain prefix and the table bytes.</summary>
internal static class TableCodec
{
    private static readonly byte[] Domain = "p2pnet-vpn-table:"u8.ToArray();

    public static SignedRoutingTable Sign(VpnRoutingTable table, PrivateKey key)
    {
        var raw = new RoutingTable
        {
            Version = table.Version,
            Network = ByteString.CopyFrom(table.Network.BaseAddress.GetAddressBytes()),
            PrefixLength = (uint)table.Network.PrefixLength,
            Mtu = (uint)table.Mtu,
            Coordinator = ByteString.CopyFrom(table.Coordinator.Bytes),
        };
        foreach (var member in table.Members)
        {
            var m = new Member { PeerId = ByteString.CopyFrom(member.Peer.Bytes), Ip = ByteString.CopyFrom(member.Address.GetAddressBytes()) };
            foreach (var address in member.Addresses)
            {
                m.Addresses.Add(ByteString.CopyFrom(address.ToBytes()));
            }
            raw.Members.Add(m);
        }
        byte[] bytes = raw.ToByteArray();
        return new SignedRoutingTable
        {
            Table = ByteString.CopyFrom(bytes),
            PublicKey = ByteString.CopyFrom(key.PublicKey.ToProtobuf()),
            Signature = ByteString.CopyFrom(key.Sign(Signed(bytes))),
        };
    }

    /// <summary>Verifies that <paramref name="coordinator"/> signed the table and decodes it.</summary>
    /// <exception cref="WireFormatException">The signature, signer or content is invalid (the message says which).</exception>
    public static VpnRoutingTable Verify(SignedRoutingTable signed, PeerId coordinator)
    {
        PublicKey key = PublicKey.FromProtobuf(signed.PublicKey.Span);
        if (!coordinator.Matches(key))
        {
            throw new WireFormatException($"The table is signed by {key.ToPeerId()}, not by the coordinator {coordinator}.");
        }
        byte[] bytes = signed.Table.ToByteArray();
        if (!key.Verify(Signed(bytes), signed.Signature.Span))
        {
            throw new WireFormatException("The table's signature is invalid.");
        }
        RoutingTable raw;
        try
        {
            raw = RoutingTable.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new WireFormatException("The table is not a valid RoutingTable message.", e);
        }
        if (raw.Network.Length != 4 || raw.PrefixLength is < 8 or > 30 || raw.Mtu is < 576 or > 65535)
        {
            throw new WireFormatException("The table's network or MTU is invalid.");
        }
        if (PeerId.FromBytes(raw.Coordinator.Span) != coordinator)
        {
            throw new WireFormatException("The table names another coordinator.");
        }
        var network = new IPNetwork(new IPAddress(raw.Network.Span), (int)raw.PrefixLength);
        var members = new List<VpnMember>(raw.Members.Count);
        foreach (var m in raw.Members)
        {
            if (m.Ip.Length != 4)
            {
                throw new WireFormatException("A member's address is not IPv4.");
            }
            var addresses = new List<Multiaddr>();
            foreach (var a in m.Addresses)
            {
                addresses.Add(Multiaddr.FromBytes(a.Span));
            }
            members.Add(new VpnMember(PeerId.FromBytes(m.PeerId.Span), new IPAddress(m.Ip.Span), addresses));
        }
        return new VpnRoutingTable(raw.Version, network, (int)raw.Mtu, coordinator, members);
    }

    private static byte[] Signed(byte[] table) => [.. Domain, .. table];
}
