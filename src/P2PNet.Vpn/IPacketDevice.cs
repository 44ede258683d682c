using System.Net;

namespace P2PNet.Vpn;

/// <summary>
/// Where a <see cref="VpnEndpoint"/> exchanges IP packets with the local system: a kernel TUN device
/// (<see cref="Tun.TunDevice"/>) or an application (<see cref="UserSpacePacketDevice"/>).
/// </summary>
/// <remarks>
/// The network calls <see cref="ReadPacketAsync"/> from one loop only, and <see cref="WritePacketAsync"/> from several
/// receive loops at once, so implementations must accept concurrent writes. A written packet's memory is reused as soon
/// as the call completes: copy it if it must outlive the call.
/// </remarks>
public interface IPacketDevice : IAsyncDisposable
{
    /// <summary>Gives the device its VPN address, prefix length (the route to the whole network) and MTU.</summary>
    ValueTask ConfigureAsync(IPAddress address, int prefixLength, int mtu, CancellationToken cancellationToken = default);

    /// <summary>Reads the next packet the local system sends into the VPN.</summary>
    /// <returns>The packet's length, or 0 when the device is closed.</returns>
    ValueTask<int> ReadPacketAsync(Memory<byte> buffer, CancellationToken cancellationToken = default);

    /// <summary>Delivers a packet that arrived from the VPN to the local system.</summary>
    ValueTask WritePacketAsync(ReadOnlyMemory<byte> packet, CancellationToken cancellationToken = default);
}
