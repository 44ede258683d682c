using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using P2PNet.Vpn.Internal;
using P2PNet.Vpn.NetStack;
using P2PNet.Vpn.NetStack.Internal;

namespace P2PNet.Vpn.Tests.NetStack;

/// <summary>A device that keeps what the stack sends and gives it nothing to read: tests inject packets with
/// <see cref="IPStack.Receive"/> and look at the answers. With <see cref="OffloadEnabled"/> it takes super-packets as a
/// TUN device with offload does, keeps them in <see cref="SuperPackets"/> and their segments (cut as the kernel would)
/// in <see cref="Sent"/>.</summary>
internal sealed class CaptureDevice : IPacketDevice, IOffloadPacketDevice
{
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ConcurrentQueue<byte[]> Sent { get; } = new();

    /// <summary>Keep copies of written packets (off: only count them, allocating nothing).</summary>
    public bool Capture { get; set; } = true;

    public long Written { get; private set; }

    public ValueTask ConfigureAsync(IPAddress address, int prefixLength, int mtu, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    public async ValueTask<int> ReadPacketAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await _closed.Task.WaitAsync(cancellationToken);
        return 0;
    }

    public ValueTask WritePacketAsync(ReadOnlyMemory<byte> packet, CancellationToken cancellationToken = default)
    {
        Written++;
        if (Capture)
        {
            Sent.Enqueue(packet.ToArray());
        }
        return ValueTask.CompletedTask;
    }

    public bool OffloadEnabled { get; init; }

    public ConcurrentQueue<(byte[] Packet, PacketOffload Offload)> SuperPackets { get; } = new();

    public async ValueTask<OffloadedPacket> ReadOffloadedAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        await _closed.Task.WaitAsync(cancellationToken);
        return default;
    }

    public ValueTask WriteOffloadedAsync(ReadOnlySequence<byte> packet, PacketOffload offload, CancellationToken cancellationToken)
    {
        Written++;
        byte[] bytes = packet.ToArray();
        Assert.True(offload.IsValidFor(bytes), "the stack handed the device a super-packet it cannot segment");
        if (offload.Segmentation != SegmentationKind.None)
        {
            SuperPackets.Enqueue((bytes, offload));
        }
        var segment = new byte[Segmenter.MaxSegmentLength(bytes, offload)];
        for (int i = 0; i < Segmenter.SegmentCount(bytes, offload); i++)
        {
            int length = Segmenter.WriteSegment(bytes, offload, i, segment);
            Sent.Enqueue(segment[..length]);
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        _closed.TrySetResult();
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// Plays a TCP peer segment by segment against a stack that is not started (no timers run, so nothing happens but what
/// the script does): crafts packets with correct checksums, injects them, and reads the stack's answers.
/// </summary>
internal sealed class ScriptedPeer : IAsyncDisposable
{
    public static readonly IPAddress PeerAddress = IPAddress.Parse("10.88.0.1");
    public static readonly IPAddress StackAddress = IPAddress.Parse("10.88.0.2");
    private const ushort PeerPort = 40000;

    private readonly CaptureDevice _device;

    public ScriptedPeer(NetStackOptions? options = null, TimeProvider? time = null, bool offload = false)
    {
        _device = new CaptureDevice { OffloadEnabled = offload };
        Stack = new IPStack(_device, StackAddress, options ?? new NetStackOptions(), timeProvider: time);
    }

    public IPStack Stack { get; }

    public CaptureDevice Device => _device;

    /// <summary>The peer's next sequence number.</summary>
    public uint Seq { get; set; } = 1_000_000;

    /// <summary>What the peer acknowledges (the stack's next sequence number).</summary>
    public uint Ack { get; set; }

    public ushort Port { get; set; } = PeerPort;

    /// <summary>Opens a connection to the stack's <paramref name="port"/> (SYN with MSS, SACK-permitted, window scale 7;
    /// no timestamps, so sequence numbers alone decide) and returns the accepted connection.</summary>
    public async Task<TcpConnection> ConnectAsync(TcpPortListener listener, CancellationToken ct)
    {
        byte[] options = [2, 4, 0x05, 0xB4, 1, 1, 4, 2, 1, 3, 3, 7];
        Inject(Seq, 0, TcpFlags.Syn, 65535, [], options);
        var synAck = Single(TakeSent());
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
        Assert.Equal(Seq + 1, synAck.AcknowledgmentNumber);
        Seq++;
        Ack = synAck.SequenceNumber + 1;
        Inject(Seq, Ack, TcpFlags.Ack, 1024, []);
        return await listener.AcceptAsync(ct);
    }

    /// <summary>Injects a TCP segment from the peer (window in the peer's scaled units).</summary>
    public void Inject(uint seq, uint ack, TcpFlags flags, ushort window, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> options = default, bool corruptChecksum = false)
    {
        Stack.Receive(Build(seq, ack, flags, window, payload, options, corruptChecksum));
    }

    public byte[] Build(uint seq, uint ack, TcpFlags flags, ushort window, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> options = default, bool corruptChecksum = false)
    {
        int optionLength = (options.Length + 3) & ~3;
        int total = 20 + 20 + optionLength + payload.Length;
        var packet = new byte[total];
        IpPacket.WriteIpv4Header(packet, Value(PeerAddress), Value(StackAddress), IpPacket.ProtocolTcp, total, 1);
        var tcp = packet.AsSpan(20);
        BinaryPrimitives.WriteUInt16BigEndian(tcp, Port);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], 7000);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], seq);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], ack);
        tcp[12] = (byte)(((20 + optionLength) / 4) << 4);
        tcp[13] = (byte)flags;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], window);
        options.CopyTo(tcp[20..]);
        payload.CopyTo(tcp[(20 + optionLength)..]);
        IpPacket.WriteTransportChecksum(packet, 16, udp: false);
        if (corruptChecksum)
        {
            packet[36] ^= 0x5A;
        }
        return packet;
    }

    /// <summary>Segments the stack sent since the last call (after flushing its queue).</summary>
    public List<TcpSegment> TakeSent()
    {
        var flush = Stack.FlushAsync();
        Assert.True(flush.IsCompletedSuccessfully); // the capture device completes every write at once
        var segments = new List<TcpSegment>();
        while (_device.Sent.TryDequeue(out var packet))
        {
            if (packet[9] == IpPacket.ProtocolTcp && TcpSegment.TryParse(packet.AsSpan(20), out var segment))
            {
                Assert.Equal(0, IpPacket.TransportChecksum(packet, new IpPacket(4, 0, 0, 6, 20, packet.Length)));
                segments.Add(segment);
            }
        }
        return segments;
    }

    public static TcpSegment Single(List<TcpSegment> segments)
    {
        Assert.Single(segments);
        return segments[0];
    }

    private static uint Value(IPAddress address) => BinaryPrimitives.ReadUInt32BigEndian(address.GetAddressBytes());

    public async ValueTask DisposeAsync()
    {
        await Stack.DisposeAsync();
        await _device.DisposeAsync();
    }
}
