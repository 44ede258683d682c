using System.Net;
using Google.Protobuf;
using P2PNet.Crypto;
using P2PNet.Multiformats;
using P2PNet.Vpn.Internal;

namespace P2PNet.Vpn.Tests;

public class TableCodecTests
{
    private static VpnRoutingTable Table(PrivateKey coordinator, PrivateKey member) => new(7, IPNetwork.Parse("10.9.0.0/16"), 1400,
        coordinator.PublicKey.ToPeerId(),
        [
            new VpnMemberInfo(coordinator.PublicKey.ToPeerId(), IPAddress.Parse("10.9.0.1"), [Multiaddr.Parse("/ip4/192.0.2.1/tcp/4001")]),
            new VpnMemberInfo(member.PublicKey.ToPeerId(), IPAddress.Parse("10.9.3.4"), []),
        ]) { VpnId = "0123456789abcdef0123456789abcdef" };

    [Fact]
    public void SignedTable_RoundTrips()
    {
        using var coordinator = PrivateKey.GenerateEd25519();
        using var member = PrivateKey.GenerateEd25519();
        var table = Table(coordinator, member);
        var decoded = TableCodec.Verify(TableCodec.Sign(table, coordinator), coordinator.PublicKey.ToPeerId(), null);
        Assert.Equal(table.Version, decoded.Version);
        Assert.Equal(table.Network, decoded.Network);
        Assert.Equal(table.Mtu, decoded.Mtu);
        Assert.Equal(table.Members.Select(m => (m.Peer, m.Address, string.Join(',', m.Addresses))),
            decoded.Members.Select(m => (m.Peer, m.Address, string.Join(',', m.Addresses))));
    }

    [Fact]
    public void Verify_WithTamperedTable_Throws()
    {
        using var coordinator = PrivateKey.GenerateEd25519();
        using var member = PrivateKey.GenerateEd25519();
        var signed = TableCodec.Sign(Table(coordinator, member), coordinator);
        byte[] bytes = signed.Table.ToByteArray();
        bytes[^1] ^= 1;
        signed.Table = ByteString.CopyFrom(bytes);
        Assert.Throws<WireFormatException>(() => TableCodec.Verify(signed, coordinator.PublicKey.ToPeerId(), null));
    }

    [Fact]
    public void Verify_SignedByAnotherPeer_Throws()
    {
        using var coordinator = PrivateKey.GenerateEd25519();
        using var member = PrivateKey.GenerateEd25519();
        var signed = TableCodec.Sign(Table(coordinator, member), member);
        var e = Assert.Throws<WireFormatException>(() => TableCodec.Verify(signed, coordinator.PublicKey.ToPeerId(), null));
        Assert.Contains("not by the coordinator", e.Message, StringComparison.Ordinal);
    }
}
