using System.Buffers.Binary;
using FsCheck;
using FsCheck.Xunit;
using P2PNet.Vpn.NetStack;
using P2PNet.Vpn.NetStack.Internal;

namespace P2PNet.Vpn.Tests.NetStack;

/// <summary>Garbage in: the stack drops it without throwing, and an established connection keeps its byte stream intact.</summary>
public class NetStackHostilePacketTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Property(MaxTest = 500)]
    public async Task ArbitraryBytes_AreDropped_WithoutTrippingTheStack(byte[] bytes, bool asIpv4ToUs)
    {
        await using var peer = new ScriptedPeer();
        using var listener = peer.Stack.ListenTcp(7000);
        using var udp = peer.Stack.BindUdp(53);
        if (asIpv4ToUs && bytes.Length >= 20)
        {
            // Make the header plausible so the garbage reaches the transport parsers.
            bytes[0] = 0x45;
            BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(2), (ushort)bytes.Length);
            bytes[6] = 0x40;
            bytes[7] = 0;
            bytes[9] = (byte)(bytes[9] % 3 switch { 0 => 6, 1 => 17, _ => 1 });
            ScriptedPeer.StackAddress.GetAddressBytes().CopyTo(bytes, 16);
            bytes[10] = bytes[11] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(10), P2PNet.Vpn.Internal.Segmenter.Finish(P2PNet.Vpn.Internal.Segmenter.Sum(bytes.AsSpan(0, 20))));
        }
        peer.Stack.Receive(bytes);
        peer.TakeSent();
        Assert.Equal(0, peer.Stack.InternalErrors);
    }

    [Fact]
    public async Task EveryTruncation_AndEverySingleBitFlip_OfASyn_IsDropped_WithoutOpeningAConnection()
    {
        await using var peer = new ScriptedPeer();
        using var listener = peer.Stack.ListenTcp(7000);
        byte[] syn = peer.Build(1000, 0, TcpFlags.Syn, 65535, [], [2, 4, 0x05, 0xB4, 1, 3, 3, 7]);
        var damaged = new List<byte[]>();
        for (int cut = 0; cut < syn.Length; cut++)
        {
            damaged.Add(syn[..cut]);
        }
        for (int bit = 0; bit < syn.Length * 8; bit++)
        {
            byte[] flipped = (byte[])syn.Clone();
            flipped[bit / 8] ^= (byte)(1 << (bit % 8));
            damaged.Add(flipped);
        }
        foreach (byte[] packet in damaged)
        {
            peer.Stack.Receive(packet);
        }
        peer.TakeSent();
        Assert.Equal(0, peer.Stack.InternalErrors);
        // One's-complement checksums catch every single-bit error (RFC 1071), and a truncated packet fails its length checks.
        Assert.Equal(0, peer.Stack.ConnectionCount);
        peer.Stack.Receive(syn);
        Assert.Equal(1, peer.Stack.ConnectionCount);
    }

    /// <summary>The stream arrives as arbitrary overlapping, duplicated, reordered pieces mixed with hostile segments
    /// (bad checksums, out-of-window RSTs, SYNs, ACKs of unsent data, data far outside the window); what the
    /// application reads is exactly the stream, and the connection is still established.</summary>
    [Property(MaxTest = 100)]
    public async Task OverlappingReorderedPieces_AndHostileSegments_NeverCorruptTheStream(NonEmptyArray<(byte Start, byte Length)> pieces, byte[] hostileKinds, int seed)
    {
        using var cts = new CancellationTokenSource(Timeout);
        await using var peer = new ScriptedPeer();
        using var listener = peer.Stack.ListenTcp(7000);
        var connection = await peer.ConnectAsync(listener, cts.Token);
        var random = new Random(seed);
        byte[] stream = new byte[4096];
        random.NextBytes(stream);
        uint isn = peer.Seq;
        int hostile = 0;
        foreach (var (start, length) in pieces.Get)
        {
            int offset = start * 16;
            int count = Math.Min(1 + (length * 8), stream.Length - offset);
            peer.Inject(isn + (uint)offset, peer.Ack, TcpFlags.Ack, 1024, stream.AsSpan(offset, count));
            if (hostileKinds is { Length: > 0 })
            {
                InjectHostile(peer, hostileKinds[hostile++ % hostileKinds.Length], isn, random);
            }
        }
        // Finally the whole stream in order (a retransmission of everything), then FIN.
        for (int offset = 0; offset < stream.Length; offset += 1000)
        {
            peer.Inject(isn + (uint)offset, peer.Ack, TcpFlags.Ack, 1024, stream.AsSpan(offset, Math.Min(1000, stream.Length - offset)));
        }
        peer.Inject(isn + (uint)stream.Length, peer.Ack, TcpFlags.Fin | TcpFlags.Ack, 1024, []);
        peer.TakeSent();
        Assert.Equal(0, peer.Stack.InternalErrors);
        Assert.Equal(TcpState.CloseWait, connection.State);
        byte[] read = await NetStackKernelTests.ReadToEndAsync(connection, cts.Token);
        Assert.Equal(stream, read);
    }

    private static void InjectHostile(ScriptedPeer peer, byte kind, uint isn, Random random)
    {
        byte[] junk = new byte[1 + random.Next(64)];
        random.NextBytes(junk);
        switch (kind % 6)
        {
            case 0: // bad checksum, in window, at the very next byte
                peer.Inject(isn + (uint)random.Next(4096), peer.Ack, TcpFlags.Ack, 1024, junk, corruptChecksum: true);
                break;
            case 1: // RST not at RCV.NXT (inside or outside the window)
                peer.Inject(isn + 4096 + 1 + (uint)random.Next(1 << 24), 0, TcpFlags.Rst, 0, []);
                break;
            case 2: // SYN on the established connection
                peer.Inject(isn + (uint)random.Next(1 << 20), 0, TcpFlags.Syn, 1024, []);
                break;
            case 3: // data acknowledging bytes never sent
                peer.Inject(isn + (uint)random.Next(4096), peer.Ack + 1 + (uint)random.Next(1 << 20), TcpFlags.Ack, 1024, junk);
                break;
            case 4: // data far outside the receive window
                peer.Inject(isn + (16u << 20) + (uint)random.Next(1 << 20), peer.Ack, TcpFlags.Ack, 1024, junk);
                break;
            default: // data from another port (no such connection): answered with a reset, nothing else
                ushort port = peer.Port;
                peer.Port = (ushort)(port + 1);
                peer.Inject(isn, peer.Ack, TcpFlags.Ack, 1024, junk);
                peer.Port = port;
                break;
        }
    }
}
