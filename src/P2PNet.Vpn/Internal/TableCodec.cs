using System.Net;
using System.Security.Cryptography;
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
            Epoch = table.Epoch,
            VpnId = table.VpnId,
            Network = ByteString.CopyFrom(table.Network.BaseAddress.GetAddressBytes()),
            PrefixLength = (uint)table.Network.PrefixLength,
            Mtu = (uint)table.Mtu,
            Coordinator = ByteString.CopyFrom(table.Coordinator.Bytes),
            Gateway = table.Gateway is { } gateway ? ByteString.CopyFrom(gateway.GetAddressBytes()) : ByteString.Empty,
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

    /// <summary>Verifies that <paramref name="coordinator"/> signed the table, decodes it and checks its members and, when
    /// <paramref name="vpnId"/> is given, that it belongs to that VPN.</summary>
    /// <exception cref="WireFormatException">The signature, signer or encoding is invalid (the message says which).</exception>
    /// <exception cref="VpnTableRejectedException">Correctly signed but inconsistent: a member address outside the network
    /// or not a host address of it, or a duplicate address or peer; or a table of another VPN.</exception>
    public static VpnRoutingTable Verify(SignedRoutingTable signed, PeerId coordinator, string? vpnId)
    {
        ArgumentNullException.ThrowIfNull(signed);
        PublicKey key;
        try
        {
            key = PublicKey.FromProtobuf(signed.PublicKey.Span);
        }
        catch (Exception e) when (e is not WireFormatException and (ArgumentException or FormatException or NotSupportedException or CryptographicException))
        {
            throw new WireFormatException("The table's public key is malformed.", e);
        }
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
        var table = Decode(raw, coordinator);
        if (vpnId is not null && table.VpnId != vpnId)
        {
            throw new VpnTableRejectedException($"The table belongs to VPN {table.VpnId}, not to VPN {vpnId}.");
        }
        CheckMembers(table);
        return table;
    }

    private static VpnRoutingTable Decode(RoutingTable raw, PeerId coordinator)
    {
        if (raw.Network.Length != 4 || raw.PrefixLength is < 8 or > 30 || raw.Mtu is < 576 or > 65535)
        {
            throw new WireFormatException("The table's network or MTU is invalid.");
        }
        if (!VpnIds.IsValid(raw.VpnId))
        {
            throw new WireFormatException("The table has no valid VPN id (32 lowercase hex characters).");
        }
        try
        {
            if (PeerId.FromBytes(raw.Coordinator.Span) != coordinator)
            {
                throw new WireFormatException("The table names another coordinator.");
            }
            // IPNetwork refuses a base address with host bits set: such a table is malformed, not a crash.
            var network = new IPNetwork(new IPAddress(raw.Network.Span), (int)raw.PrefixLength);
            var members = new List<VpnMemberInfo>(raw.Members.Count);
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
                members.Add(new VpnMemberInfo(PeerId.FromBytes(m.PeerId.Span), new IPAddress(m.Ip.Span), addresses));
            }
            if (raw.Gateway.Length is not (0 or 4))
            {
                throw new WireFormatException("The gateway's address is not IPv4.");
            }
            var gateway = raw.Gateway.Length == 4 ? new IPAddress(raw.Gateway.Span) : null;
            if (gateway is not null && !new AddressPool(network).IsUsable(gateway))
            {
                throw new WireFormatException($"The gateway {gateway} is not a host address of {network}.");
            }
            return new VpnRoutingTable(raw.Version, network, (int)raw.Mtu, coordinator, members)
            {
                Epoch = raw.Epoch,
                VpnId = raw.VpnId,
                Gateway = gateway,
            };
        }
        catch (Exception e) when (e is not WireFormatException and (ArgumentException or FormatException or NotSupportedException or OverflowException))
        {
            throw new WireFormatException($"The table is malformed: {e.Message}", e);
        }
    }

    /// <summary>Every member address is a host address of the network (as <see cref="AddressPool"/> hands them out),
    /// and no address or peer appears twice: otherwise packets would be routed to the wrong member.</summary>
    private static void CheckMembers(VpnRoutingTable table)
    {
        var pool = new AddressPool(table.Network);
        var addresses = new HashSet<uint>();
        var peers = new HashSet<PeerId>();
        foreach (var member in table.Members)
        {
            if (!pool.IsUsable(member.Address))
            {
                throw new VpnTableRejectedException($"The member {member.Peer} has the address {member.Address}, which is not a host address of {table.Network}.");
            }
            if (!addresses.Add(AddressPool.ToUInt32(member.Address)))
            {
                throw new VpnTableRejectedException($"The address {member.Address} is assigned to more than one member.");
            }
            if (!peers.Add(member.Peer))
            {
                throw new VpnTableRejectedException($"The peer {member.Peer} is listed more than once.");
            }
        }
    }

    private static byte[] Signed(byte[] table) => [.. Domain, .. table];
}
