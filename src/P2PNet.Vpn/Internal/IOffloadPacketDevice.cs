using System.Buffers;

namespace P2PNet.Vpn.Internal;

/// <summary>
/// A packet device that hands over super-packets with their offload state (<see cref="PacketOffload"/>) instead of
/// finished packets: a TUN device with <c>IFF_VNET_HDR</c>. <see cref="VpnEndpoint"/> reads whole super-packets from it,
/// carries them as they are, and writes them as they are, so the kernels segment and checksum.
/// </summary>
/// <remarks>Same threading contract as <see cref="IPacketDevice"/>: one reader, concurrent writers.</remarks>
internal interface IOffloadPacketDevice
{
    /// <summary>Whether the device exchanges super-packets; when false the <see cref="IPacketDevice"/> methods are used.</summary>
    bool OffloadEnabled { get; }

    /// <summary>Reads the next (super-)packet into <paramref name="buffer"/> (64 KiB holds any); length 0 when the device is closed.</summary>
    ValueTask<OffloadedPacket> ReadOffloadedAsync(Memory<byte> buffer, CancellationToken cancellationToken);

    /// <summary>Delivers a (super-)packet whose <paramref name="offload"/> passed <see cref="PacketOffload.IsValidFor(ReadOnlySpan{byte})"/>.
    /// The packet may lie in several buffers (as a stream delivered it); they are reused once the call completes.</summary>
    ValueTask WriteOffloadedAsync(ReadOnlySequence<byte> packet, PacketOffload offload, CancellationToken cancellationToken);
}

/// <summary>A read from an <see cref="IOffloadPacketDevice"/>: the packet's length and what is left to do to it.</summary>
internal readonly record struct OffloadedPacket(int Length, PacketOffload Offload);
