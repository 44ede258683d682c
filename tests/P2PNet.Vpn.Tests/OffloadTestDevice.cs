using System.Buffers;
using System.Net;
using System.Threading.Channels;
using P2PNet.Vpn.Internal;

namespace P2PNet.Vpn.Tests;

/// <summary>A user-space device that, like a TUN device with IFF_VNET_HDR, hands over super-packets with their offload
/// state and takes them back as they are (so tests see exactly what the VPN delivers).</summary>
internal sealed class OffloadTestDevice : IPacketDevice, IOffloadPacketDevice
{
    private readonly Channel<(byte[] Packet, PacketOffload Offload)> _toVpn = Channel.CreateUnbounded<(byte[], PacketOffload)>();
    private readonly Channel<(byte[] Packet, PacketOffload Offload)> _fromVpn = Channel.CreateUnbounded<(byte[], PacketOffload)>();

    public bool OffloadEnabled => true;

    public ValueTask SendAsync(byte[] packet, PacketOffload offload) => _toVpn.Writer.WriteAsync((packet, offload));

    public ValueTask<(byte[] Packet, PacketOffload Offload)> ReceiveAsync(CancellationToken cancellationToken) => _fromVpn.Reader.ReadAsync(cancellationToken);

    public ValueTask ConfigureAsync(IPAddress address, int prefixLength, int mtu, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    public ValueTask<int> ReadPacketAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        throw new InvalidOperationException("An offloading device is read with ReadOffloadedAsync.");

    public ValueTask WritePacketAsync(ReadOnlyMemory<byte> packet, CancellationToken cancellationToken = default) =>
        throw new InvalidOperationException("An offloading device is written with WriteOffloadedAsync.");

    public async ValueTask<OffloadedPacket> ReadOffloadedAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (!await _toVpn.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false) || !_toVpn.Reader.TryRead(out var item))
        {
            return default;
        }
        item.Packet.CopyTo(buffer);
        return new OffloadedPacket(item.Packet.Length, item.Offload);
    }

    public ValueTask WriteOffloadedAsync(ReadOnlySequence<byte> packet, PacketOffload offload, CancellationToken cancellationToken) =>
        _fromVpn.Writer.WriteAsync((packet.ToArray(), offload), cancellationToken);

    public ValueTask DisposeAsync()
    {
        _toVpn.Writer.TryComplete();
        _fromVpn.Writer.TryComplete();
        return ValueTask.CompletedTask;
    }
}
