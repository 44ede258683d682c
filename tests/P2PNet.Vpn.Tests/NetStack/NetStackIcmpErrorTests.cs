using System.Buffers.Binary;
using System.Net;
using P2PNet.Vpn.Internal;
using P2PNet.Vpn.NetStack;
using P2PNet.Vpn.NetStack.Internal;

namespace P2PNet.Vpn.Tests.NetStack;

/// <summary>ICMP errors segment by segment, the test as the peer and as a router on the way: "fragmentation needed"
/// lowers a connection's MSS and resends at the new size (RFC 1191), only when it quotes data in flight (RFC 5927);
/// port unreachable refuses a connect; the stack answers a datagram too big for its link with "fragmentation needed".</summary>
public class NetStackIcmpErrorTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private static readonly IPAddress Router = IPAddress.Parse("10.88.0.254");
    private const int Mss = 1460; // the scripted peer offers 1460 and no timestamps

    [Fact]
    public async Task FragmentationNeeded_QuotingDataInFlight_LowersTheMss_AndResendsEverythingUnacknowledgedAtTheNewSize()
    {
        await using var peer = new ScriptedPeer();
        using var cts = new CancellationTokenSource(Timeout);
        using var listener = peer.Stack.ListenTcp(7000);
        await using var connection = await peer.ConnectAsync(listener, cts.Token);
        uint first = peer.Ack;
        await connection.WriteAsync(new byte[4 * Mss], cts.Token);
        Assert.All(peer.TakeSent(), s => Assert.Equal(Mss, s.PayloadLength));

        peer.Stack.Receive(FragmentationNeeded(first, 1280, quotedLength: 1500));

        var resent = peer.TakeSent();
        Assert.All(resent, s => Assert.True(s.PayloadLength <= 1240, $"a {s.PayloadLength}-byte segment after the path MTU fell to 1280"));
        Assert.Equal(first, resent[0].SequenceNumber);
        Assert.Equal(4 * Mss, resent.Sum(s => s.PayloadLength)); // everything unacknowledged, at once, contiguous
        for (int i = 1; i < resent.Count; i++)
        {
            Assert.Equal(resent[i - 1].SequenceNumber + (uint)resent[i - 1].PayloadLength, resent[i].SequenceNumber);
        }
        var statistics = connection.GetStatistics();
        Assert.Equal(1280, statistics.PathMtu);
        Assert.Equal(1240, statistics.SendMss);
        Assert.Equal(TcpState.Established, statistics.State);

        // New data goes at the new size too.
        peer.Inject(peer.Seq, first + (4 * Mss), TcpFlags.Ack, 1024, []);
        await connection.WriteAsync(new byte[3000], cts.Token);
        Assert.Equal([1240, 1240, 520], peer.TakeSent().Select(s => s.PayloadLength));
    }

    [Fact]
    public async Task ForgedOrStaleIcmpErrors_ChangeNothing_AndAClaimBelowTheFloorIsClamped()
    {
        await using var peer = new ScriptedPeer();
        using var cts = new CancellationTokenSource(Timeout);
        using var listener = peer.Stack.ListenTcp(7000);
        await using var connection = await peer.ConnectAsync(listener, cts.Token);
        uint first = peer.Ack;
        await connection.WriteAsync(new byte[2 * Mss], cts.Token);
        peer.TakeSent();

        // A sequence number not in flight (below SND.UNA, at SND.MAX and beyond) is an off-path guess: ignored.
        peer.Stack.Receive(FragmentationNeeded(first - 1, 1280, 1500));
        peer.Stack.Receive(FragmentationNeeded(first + (2 * Mss), 1280, 1500));
        peer.Stack.Receive(FragmentationNeeded(first + 1_000_000, 1280, 1500));
        // Port unreachable on a synchronized connection is a soft error (RFC 5461): the connection stays.
        peer.Stack.Receive(Unreachable(code: 3, first, Router));
        // Truncated quotes and a quote of someone else's packet are dropped.
        peer.Stack.Receive(Truncated(FragmentationNeeded(first, 1280, 1500), quoted: 20 + 4));
        var notOurs = FragmentationNeeded(first, 1280, 1500);
        notOurs[28 + 12] ^= 1; // the quoted source is not the stack
        BinaryPrimitives.WriteUInt16BigEndian(notOurs.AsSpan(28 + 10), 0);
        BinaryPrimitives.WriteUInt16BigEndian(notOurs.AsSpan(28 + 10), Checksum(notOurs.AsSpan(28, 20)));
        FinishIcmp(notOurs);
        peer.Stack.Receive(notOurs);
        Assert.Empty(peer.TakeSent());
        var statistics = connection.GetStatistics();
        Assert.Equal((1500, Mss, TcpState.Established), (statistics.PathMtu, statistics.SendMss, statistics.State));

        // A claimed MTU below 552 is clamped there (a 512-byte segment plus headers), not obeyed.
        peer.Stack.Receive(FragmentationNeeded(first, 68, 1500));
        var resent = peer.TakeSent();
        Assert.All(resent, s => Assert.True(s.PayloadLength <= 512));
        Assert.Equal(2 * Mss, resent.Sum(s => s.PayloadLength));
        Assert.Equal(552, connection.GetStatistics().PathMtu);

        // A report no smaller than what is already used is stale: nothing is resent.
        peer.Stack.Receive(FragmentationNeeded(first, 1000, 1500));
        Assert.Empty(peer.TakeSent());
    }

    [Fact]
    public async Task FragmentationNeededWithoutAnMtu_TakesThePlateauBelowTheQuotedLength()
    {
        Assert.Equal(1492, IPStack.PathMtuPlateau(1500));
        Assert.Equal(1006, IPStack.PathMtuPlateau(1492));
        Assert.Equal(68, IPStack.PathMtuPlateau(60));

        await using var peer = new ScriptedPeer();
        using var cts = new CancellationTokenSource(Timeout);
        using var listener = peer.Stack.ListenTcp(7000);
        await using var connection = await peer.ConnectAsync(listener, cts.Token);
        uint first = peer.Ack;
        await connection.WriteAsync(new byte[Mss], cts.Token);
        peer.TakeSent();
        peer.Stack.Receive(FragmentationNeeded(first, 0, quotedLength: 1500)); // an RFC 792 router: no MTU named
        Assert.Equal(1492, connection.GetStatistics().PathMtu);
        Assert.Equal([1452, 8], peer.TakeSent().Select(s => s.PayloadLength));
    }

    [Fact]
    public async Task PortUnreachableForOurSyn_RefusesTheConnect_AtOnce()
    {
        await using var peer = new ScriptedPeer();
        using var cts = new CancellationTokenSource(Timeout);
        var connect = peer.Stack.ConnectTcpAsync(ScriptedPeer.PeerAddress, 9999, cts.Token);
        var syn = ScriptedPeer.Single(peer.TakeSent());
        Assert.Equal(TcpFlags.Syn, syn.Flags);

        // One quoting another sequence number is not about this SYN.
        peer.Stack.Receive(Unreachable(code: 3, syn.SequenceNumber + 1, ScriptedPeer.PeerAddress, syn.SourcePort, 9999));
        Assert.False(connect.IsCompleted);

        peer.Stack.Receive(Unreachable(code: 3, syn.SequenceNumber, ScriptedPeer.PeerAddress, syn.SourcePort, 9999));
        var refused = await Assert.ThrowsAsync<TcpConnectionException>(() => connect.WaitAsync(cts.Token));
        Assert.Equal(TcpError.ConnectionRefused, refused.Error);
    }

    [Fact]
    public async Task ADatagramLargerThanTheLinkWithDf_IsAnsweredWithFragmentationNeeded_NamingTheMtu_WithoutDfItIsTaken()
    {
        await using var peer = new ScriptedPeer(new NetStackOptions { Mtu = 1280 });
        using var cts = new CancellationTokenSource(Timeout);
        using var udp = peer.Stack.BindUdp(5353);

        byte[] big = Udp(1400, dontFragment: true);
        peer.Stack.Receive(big);
        await peer.Stack.FlushAsync();
        Assert.True(peer.Device.Sent.TryDequeue(out var error));
        Assert.Equal((IpPacket.ProtocolIcmp, (byte)3, (byte)4), (error[9], error[20], error[21]));
        Assert.Equal(1280, BinaryPrimitives.ReadUInt16BigEndian(error.AsSpan(26)));
        Assert.True(big.AsSpan(0, 28).SequenceEqual(error.AsSpan(28, 28))); // quotes the header and the UDP header
        Assert.Equal(0, Checksum(error.AsSpan(20)));
        Assert.True(peer.Stack.PacketsDropped > 0);

        peer.Stack.Receive(Udp(1400, dontFragment: false)); // a host takes what arrives (RFC 1122 §3.3.2)
        var datagram = await udp.ReceiveFromAsync(new byte[2000], cts.Token);
        Assert.Equal(1400 - 28, datagram.Length);
        Assert.Empty(peer.Device.Sent);
    }

    /// <summary>An ICMP "fragmentation needed" from a router, quoting a segment of the stack's connection to the peer
    /// (stack port 7000, peer port 40000) that starts at <paramref name="sequence"/>.</summary>
    private static byte[] FragmentationNeeded(uint sequence, int mtu, int quotedLength)
    {
        var packet = Unreachable(code: 4, sequence, Router, 7000, 40000, quotedLength);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(26), (ushort)mtu);
        FinishIcmp(packet);
        return packet;
    }

    private static byte[] Unreachable(byte code, uint sequence, IPAddress from, ushort localPort = 7000, ushort remotePort = 40000, int quotedLength = 60)
    {
        var packet = new byte[20 + 8 + 20 + 8];
        IpPacket.WriteIpv4Header(packet, Value(from), Value(ScriptedPeer.StackAddress), IpPacket.ProtocolIcmp, packet.Length, 7);
        packet[20] = 3;
        packet[21] = code;
        var quoted = packet.AsSpan(28);
        IpPacket.WriteIpv4Header(quoted, Value(ScriptedPeer.StackAddress), Value(ScriptedPeer.PeerAddress), IpPacket.ProtocolTcp, quotedLength, 9);
        BinaryPrimitives.WriteUInt16BigEndian(quoted[20..], localPort);
        BinaryPrimitives.WriteUInt16BigEndian(quoted[22..], remotePort);
        BinaryPrimitives.WriteUInt32BigEndian(quoted[24..], sequence);
        FinishIcmp(packet);
        return packet;
    }

    private static void FinishIcmp(byte[] packet)
    {
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(22), 0);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(22), Checksum(packet.AsSpan(20)));
    }

    private static byte[] Udp(int length, bool dontFragment)
    {
        var packet = new byte[length];
        IpPacket.WriteIpv4Header(packet, Value(ScriptedPeer.PeerAddress), Value(ScriptedPeer.StackAddress), IpPacket.ProtocolUdp, length, 3);
        if (!dontFragment)
        {
            BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(6), 0);
            BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(10), 0);
            BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(10), Checksum(packet.AsSpan(0, 20)));
        }
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(20), 40000);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(22), 5353);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(24), (ushort)(length - 20));
        IpPacket.WriteTransportChecksum(packet, 6, udp: true);
        return packet;
    }

    /// <summary>The same error quoting only <paramref name="quoted"/> bytes of the offending packet (lengths and
    /// checksums made consistent, so only the short quote is wrong).</summary>
    private static byte[] Truncated(byte[] packet, int quoted)
    {
        var shorter = packet.AsSpan(0, 28 + quoted).ToArray();
        BinaryPrimitives.WriteUInt16BigEndian(shorter.AsSpan(2), (ushort)shorter.Length);
        BinaryPrimitives.WriteUInt16BigEndian(shorter.AsSpan(10), 0);
        BinaryPrimitives.WriteUInt16BigEndian(shorter.AsSpan(10), Checksum(shorter.AsSpan(0, 20)));
        FinishIcmp(shorter);
        return shorter;
    }

    private static ushort Checksum(ReadOnlySpan<byte> bytes) => Segmenter.Finish(Segmenter.Sum(bytes));

    private static uint Value(IPAddress address) => BinaryPrimitives.ReadUInt32BigEndian(address.GetAddressBytes());
}
