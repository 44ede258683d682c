using System.Buffers;
using P2PNet.Vpn.Internal;

namespace P2PNet.Vpn;

/// <summary>The device side of the data plane: read packets (or super-packets) from the device, check them, and queue
/// each to the link of the member that owns its destination.</summary>
public abstract partial class VpnEndpoint
{
    // Read buffers of offloading devices: any super-packet fits (an IPv4 total length is 16 bits).
    private const int SuperPacketBufferSize = 64 * 1024;

    // A packet read into a super-packet buffer up to this size is copied into a buffer of its own size, so a queue of
    // small packets (ACKs, pings) does not pin 64 KiB each.
    private const int SmallPacketSize = 2048;

    /// <summary>Reads packets from the device and queues each one to the member that owns its destination.</summary>
    private async Task DeviceLoopAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (Device is IOffloadPacketDevice { OffloadEnabled: true } offloading)
            {
                await ReadSuperPacketsAsync(offloading, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await ReadPacketsAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
#pragma warning disable CA1031 // logged; the device is gone, the control plane keeps running
        catch (Exception e)
#pragma warning restore CA1031
        {
            VpnLog.DeviceLoopFailed(Logger, e.Message);
        }
    }

    private async Task ReadPacketsAsync(CancellationToken cancellationToken)
    {
        int size = Math.Max(Options.Mtu, 1500);
        while (!cancellationToken.IsCancellationRequested)
        {
            byte[] buffer = ArrayPool<byte>.Shared.Rent(size);
            int length;
            try
            {
                length = await Device.ReadPacketAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                ArrayPool<byte>.Shared.Return(buffer);
                throw;
            }
            if (length <= 0)
            {
                ArrayPool<byte>.Shared.Return(buffer);
                return;
            }
            if (!Route(buffer, length, default))
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>One read per super-packet, straight into the pooled buffer that is queued (and then written into the stream).</summary>
    private async Task ReadSuperPacketsAsync(IOffloadPacketDevice device, CancellationToken cancellationToken)
    {
        byte[]? large = null;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                large ??= ArrayPool<byte>.Shared.Rent(SuperPacketBufferSize);
                var read = await device.ReadOffloadedAsync(large, cancellationToken).ConfigureAwait(false);
                if (read.Length <= 0)
                {
                    return;
                }
                byte[] buffer;
                if (read.Length <= SmallPacketSize)
                {
                    buffer = ArrayPool<byte>.Shared.Rent(read.Length);
                    large.AsSpan(0, read.Length).CopyTo(buffer);
                }
                else
                {
                    buffer = large;
                    large = null;
                }
                if (!Route(buffer, read.Length, read.Offload))
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        finally
        {
            if (large is not null)
            {
                ArrayPool<byte>.Shared.Return(large);
            }
        }
    }

    /// <summary>Queues one outbound (super-)packet; false (dropped and counted) when it cannot be sent.</summary>
    private bool Route(byte[] buffer, int length, PacketOffload offload)
    {
        var packet = buffer.AsSpan(0, length);
        if (length > PacketFraming.MaxPacketSize || !IPv4Header.TryRead(packet, out uint source, out uint destination) || !offload.IsValidFor(packet))
        {
            Metrics.Dropped(VpnDropReason.Malformed);
            return false;
        }
        var routes = Volatile.Read(ref _routes);
        routes.TryGetValue(destination, out var link);
        if (source != LocalAddressValue || link is null)
        {
            link = RouteThroughGateway(length, source, destination, link);
            if (link is null)
            {
                return false;
            }
        }
        if (!link.TryEnqueue(buffer, length, offload))
        {
            Metrics.Dropped(VpnDropReason.QueueFull);
            return false;
        }
        return true;
    }
}
