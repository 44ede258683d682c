using System.Buffers.Binary;
using System.Net;
using FsCheck;
using FsCheck.Xunit;
using Google.Protobuf;
using P2PNet.Crypto;
using P2PNet.Multiformats;
using P2PNet.Muxing;
using P2PNet.Vpn.Internal;
using P2PNet.Vpn.Protos;

namespace P2PNet.Vpn.Tests;

/// <summary>Hostile input on the control plane: mutated signed tables, arbitrary and oversized control messages.</summary>
public sealed class VpnControlFuzzTests : IDisposable
{
    private readonly PrivateKey _coordinator = PrivateKey.GenerateEd25519();
    private readonly PrivateKey _member = PrivateKey.GenerateEd25519();
    private readonly VpnRoutingTable _table;
    private readonly SignedRoutingTable _signed;
    private readonly byte[] _message;

    public VpnControlFuzzTests()
    {
        _table = new VpnRoutingTable(9, IPNetwork.Parse("10.9.0.0/16"), 1400, _coordinator.PublicKey.ToPeerId(),
        [
            new VpnMemberInfo(_coordinator.PublicKey.ToPeerId(), IPAddress.Parse("10.9.0.1"), [Multiaddr.Parse("/ip4/192.0.2.1/tcp/4001")]),
            new VpnMemberInfo(_member.PublicKey.ToPeerId(), IPAddress.Parse("10.9.3.4"), [Multiaddr.Parse("/ip4/192.0.2.2/tcp/4001")]),
        ]) { Epoch = 1_750_000_000_000, VpnId = "0123456789abcdef0123456789abcdef" };
        _signed = TableCodec.Sign(_table, _coordinator);
        _message = new ControlMessage { Table = _signed }.ToByteArray();
    }

    public void Dispose()
    {
        _coordinator.Dispose();
        _member.Dispose();
    }

    [Property(MaxTest = 1000)]
    public bool MutatedSignedTableMessage_IsNeverAcceptedAsAnythingButTheOriginal(NonNegativeInt position, byte flip, NonNegativeInt cut, bool truncate)
    {
        byte[] bytes = (byte[])_message.Clone();
        bytes[position.Get % bytes.Length] ^= flip == 0 ? (byte)0x80 : flip;
        if (truncate)
        {
            bytes = bytes[..(cut.Get % bytes.Length)];
        }
        return IsRefusedOrUnchanged(bytes);
    }

    [Property(MaxTest = 1000)]
    public bool MutatedTableBytes_FailTheSignature(NonNegativeInt position, byte flip)
    {
        byte[] table = _signed.Table.ToByteArray();
        table[position.Get % table.Length] ^= flip == 0 ? (byte)1 : flip;
        var forged = new SignedRoutingTable { Table = ByteString.CopyFrom(table), PublicKey = _signed.PublicKey, Signature = _signed.Signature };
        var e = Assert.ThrowsAny<WireFormatException>(() => TableCodec.Verify(forged, _coordinator.PublicKey.ToPeerId(), null));
        return e.Message.Contains("signature", StringComparison.Ordinal);
    }

    [Property(MaxTest = 1000)]
    public bool ArbitraryControlBytes_ParseOrThrowOnlyWireFormatException(byte[] bytes) => IsRefusedOrUnchanged(bytes);

    [Fact]
    public async Task ControlStream_WithOversizedOrGarbageMessage_IsResetAndTheNetworkKeepsWorking()
    {
        await using var cluster = await VpnCluster.CreateAsync(2, configure: o => o.MaxControlMessageSize = 4096);
        await cluster.StartAllAsync();
        using var cts = new CancellationTokenSource(VpnCluster.Timeout);
        var oversized = new byte[16];
        int prefix = Varint.Write(oversized, 4097);
        var garbage = new byte[40];
        Random.Shared.NextBytes(garbage);
        garbage[0] = 0xFF; // an invalid protobuf tag (field 31, wire type 7)
        foreach (var (from, to) in new[] { (1, 0), (0, 1) })
        {
            await AssertResetAsync(cluster, from, to, oversized.AsMemory(0, prefix + 8), cts.Token);
            await AssertResetAsync(cluster, from, to, (byte[])[(byte)garbage.Length, .. garbage], cts.Token); // a 1-byte varint length
            // An empty message (no body) is refused too.
            await AssertResetAsync(cluster, from, to, new byte[] { 0 }, cts.Token);
        }

        using var ghost = PrivateKey.GenerateEd25519();
        await cluster.Coordinator.AddPeerAsync(ghost.PublicKey.ToPeerId(), null, cts.Token);
        await VpnCluster.WaitUntilAsync(() => cluster.Vpns[1].RoutingTable!.Members.Count == 3);
    }

    private static async Task AssertResetAsync(VpnCluster cluster, int from, int to, ReadOnlyMemory<byte> bytes, CancellationToken ct)
    {
        var stream = await cluster.Hosts[from].OpenStreamAsync(cluster.Hosts[to].PeerId, cluster.Vpns[to].ControlProtocol, ct);
        await using (stream)
        {
            await stream.WriteAsync(bytes, completeWrites: true, ct);
            await Assert.ThrowsAsync<StreamResetException>(async () =>
            {
                while (!(await stream.Input.ReadAsync(ct)).IsCompleted)
                {
                }
            });
        }
    }

    /// <summary>Refused with the documented error, or (when the mutation only touched bytes outside what is signed)
    /// exactly the coordinator's table: never a different table.</summary>
    private bool IsRefusedOrUnchanged(byte[] bytes)
    {
        ControlMessage message;
        try
        {
            message = ControlCodec.Parse(bytes);
        }
        catch (WireFormatException)
        {
            return true;
        }
        if (message.BodyCase != ControlMessage.BodyOneofCase.Table)
        {
            return true; // a member refuses anything but a table from its coordinator
        }
        VpnRoutingTable decoded;
        try
        {
            decoded = TableCodec.Verify(message.Table, _coordinator.PublicKey.ToPeerId(), null);
        }
        catch (WireFormatException)
        {
            return true;
        }
        return message.Table.Table.Equals(_signed.Table)
            && decoded.Epoch == _table.Epoch && decoded.Version == _table.Version && decoded.Network == _table.Network
            && decoded.Members.Select(m => (m.Peer, m.Address, string.Join(',', m.Addresses)))
                .SequenceEqual(_table.Members.Select(m => (m.Peer, m.Address, string.Join(',', m.Addresses))));
    }
}
