using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using P2PNet.Host;

namespace P2PNet.Vpn.Internal;

/// <summary>The sending half: a queue bounded in packets and in bytes, drained into the stream many packets per flush.</summary>
internal sealed partial class PeerLink
{
    // Flush at least this often while a backlog drains, so one busy peer cannot hold a huge unflushed buffer.
    private const int MaxBatchBytes = 256 * 1024;

    // How many times a non-empty batch waits for more packets before it is flushed.
    private const int CoalescingPasses = 4;

    // A first pass that took one packet up to this size is not a burst: it is flushed without waiting for more.
    private const int LonePacketBytes = 2048;

    private long _queuedBytes;

    /// <summary>
    /// Queues a (super-)packet, taking ownership of the pooled buffer; false when the queue is full. The buffer's whole
    /// size counts against <see cref="VpnOptions.PeerQueueBytes"/>, so a 64 KiB super-packet weighs what it holds.
    /// </summary>
    public bool TryEnqueue(byte[] buffer, int length, PacketOffload offload)
    {
        if (Interlocked.Add(ref _queuedBytes, buffer.Length) > _owner.Options.PeerQueueBytes)
        {
            Interlocked.Add(ref _queuedBytes, -buffer.Length);
            return false;
        }
        if (!_queue.Writer.TryWrite(new OutboundPacket(buffer, length, offload)))
        {
            Interlocked.Add(ref _queuedBytes, -buffer.Length);
            return false;
        }
        return true;
    }

    private void Release(OutboundPacket packet)
    {
        Interlocked.Add(ref _queuedBytes, -packet.Buffer.Length);
        ArrayPool<byte>.Shared.Return(packet.Buffer);
    }

    /// <summary>Writes queued packets, many per flush: one flush per drained batch. On /p2pnet/vpn/ip/2.0.0 a super-packet
    /// goes as it is; on 1.0.0 it is segmented (and checksummed) straight into the stream's buffer.</summary>
    private async Task PumpAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        var output = stream.Output;
        bool offloadFraming = stream.Protocol == _owner.OffloadIpProtocol;
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            long packets = 0, bytes = 0;
            for (int pass = 0; pass < CoalescingPasses && bytes < MaxBatchBytes; pass++)
            {
                if (pass > 0)
                {
                    // A flush costs a Yamux frame, a Noise seal and a send: while packets keep arriving (a TCP window
                    // in flight), give the device loop a moment to queue more so one flush carries many.
                    await Task.Yield();
                }
                long before = packets;
                while (bytes < MaxBatchBytes && reader.TryRead(out var packet))
                {
                    try
                    {
                        Write(output, packet.Buffer.AsSpan(0, packet.Length), packet.Offload, offloadFraming);
                    }
                    finally
                    {
                        Release(packet);
                    }
                    packets++;
                    bytes += packet.Length;
                }
                if (packets == before || (packets == 1 && bytes <= LonePacketBytes))
                {
                    // Nothing more arrived, or one small packet with nothing behind it (a ping, a keystroke, an ACK):
                    // send now. A yield here would cost every lone packet a thread-pool dispatch and a wake-up
                    // (docs/vpn.md, "Latency at human rates").
                    break;
                }
            }
            var flushed = await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            Interlocked.Add(ref _packetsSent, packets);
            Interlocked.Add(ref _bytesSent, bytes);
            _owner.Metrics.Sent(packets, bytes);
            if (flushed.IsCompleted || flushed.IsCanceled)
            {
                throw new IOException("The data stream was closed by the peer.");
            }
        }
    }

    private static void Write(PipeWriter output, ReadOnlySpan<byte> packet, in PacketOffload offload, bool offloadFraming)
    {
        if (offloadFraming)
        {
            OffloadFraming.Write(output, packet, offload);
            return;
        }
        if (offload.IsComplete)
        {
            PacketFraming.Write(output, packet);
            return;
        }
        // A peer on 1.0.0 takes finished packets only.
        int count = Segmenter.SegmentCount(packet, offload);
        int largest = Segmenter.MaxSegmentLength(packet, offload);
        for (int i = 0; i < count; i++)
        {
            var span = output.GetSpan(PacketFraming.HeaderSize + largest);
            int length = Segmenter.WriteSegment(packet, offload, i, span[PacketFraming.HeaderSize..]);
            BinaryPrimitives.WriteUInt16BigEndian(span, (ushort)length);
            output.Advance(PacketFraming.HeaderSize + length);
        }
    }
}
