using System.Buffers;
using P2PNet.Host;

namespace P2PNet.Vpn.Internal;

/// <summary>The receiving half: parse frames however the stream splits them, check each packet, deliver it to the device.</summary>
internal sealed partial class PeerLink
{
    /// <summary>Parses framed packets however the stream splits them, checks each one, and delivers it to the device.</summary>
    /// <exception cref="WireFormatException">A frame that cannot be parsed (reserved flags): the stream is dropped.</exception>
    private async Task ReceiveAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        var input = stream.Input;
        bool offloadFraming = stream.Protocol == _owner.OffloadIpProtocol;
        var offloadDevice = _owner.Device as IOffloadPacketDevice;
        bool deviceTakesOffload = offloadDevice?.OffloadEnabled == true;
        byte[]? scratch = null;
        byte[]? segments = null;
        try
        {
            while (true)
            {
                var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
                var buffer = result.Buffer;
                long packets = 0, bytes = 0;
                while (true)
                {
                    ReadOnlySequence<byte> framed;
                    PacketOffload offload = default;
                    if (!(offloadFraming ? OffloadFraming.TryRead(ref buffer, out framed, out offload) : PacketFraming.TryRead(ref buffer, out framed)))
                    {
                        break;
                    }
                    if (!Accept(framed, offload))
                    {
                        continue;
                    }
                    packets++;
                    bytes += framed.Length;
                    if (deviceTakesOffload)
                    {
                        // Straight from the stream's buffers to the kernel (writev), however many pieces the packet is in.
                        await offloadDevice!.WriteOffloadedAsync(framed, offload, cancellationToken).ConfigureAwait(false);
                        continue;
                    }
                    ReadOnlyMemory<byte> packet;
                    if (framed.IsSingleSegment)
                    {
                        packet = framed.First;
                    }
                    else
                    {
                        scratch ??= ArrayPool<byte>.Shared.Rent(OffloadFraming.MaxPacketSize);
                        framed.CopyTo(scratch);
                        packet = scratch.AsMemory(0, (int)framed.Length);
                    }
                    if (offload.IsComplete)
                    {
                        await _owner.Device.WritePacketAsync(packet, cancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        // The device takes finished packets only: segment and checksum here.
                        segments ??= ArrayPool<byte>.Shared.Rent(OffloadFraming.MaxPacketSize);
                        int count = Segmenter.SegmentCount(packet.Span, offload);
                        for (int i = 0; i < count; i++)
                        {
                            int length = Segmenter.WriteSegment(packet.Span, offload, i, segments);
                            await _owner.Device.WritePacketAsync(segments.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
                        }
                    }
                }
                input.AdvanceTo(buffer.Start, buffer.End);
                if (packets > 0)
                {
                    Interlocked.Add(ref _packetsReceived, packets);
                    Interlocked.Add(ref _bytesReceived, bytes);
                    _owner.Metrics.Received(packets, bytes);
                }
                if (result.IsCompleted || result.IsCanceled)
                {
                    return;
                }
            }
        }
        finally
        {
            if (scratch is not null)
            {
                ArrayPool<byte>.Shared.Return(scratch);
            }
            if (segments is not null)
            {
                ArrayPool<byte>.Shared.Return(segments);
            }
        }
    }

    /// <summary>Anti-spoofing and routing on the (super-)packet's IPv4 header, then the offload state against the packet.</summary>
    private bool Accept(in ReadOnlySequence<byte> framed, in PacketOffload offload)
    {
        // Everything checked lies in the first 120 bytes (IPv4 and TCP headers at their longest).
        int length = (int)framed.Length;
        int needed = Math.Min(length, PacketOffload.MaxHeadersLength);
        var packet = framed.FirstSpan;
        if (packet.Length < needed)
        {
            Span<byte> prefix = stackalloc byte[PacketOffload.MaxHeadersLength];
            framed.Slice(0, needed).CopyTo(prefix);
            return Accept(prefix[..needed], length, offload);
        }
        return Accept(packet, length, offload);
    }

    private bool Accept(ReadOnlySpan<byte> packet, int length, in PacketOffload offload)
    {
        if (!IPv4Header.TryRead(packet, out uint source, out uint destination))
        {
            _owner.Metrics.Dropped(VpnDropReason.Malformed);
            return false;
        }
        if ((source != Address || destination != _owner.LocalAddressValue)
            && !_owner.AcceptThroughGateway(this, packet, length, source, destination))
        {
            return false;
        }
        if (!offload.IsValidFor(packet, length))
        {
            _owner.Metrics.Dropped(VpnDropReason.Malformed);
            return false;
        }
        return true;
    }
}
