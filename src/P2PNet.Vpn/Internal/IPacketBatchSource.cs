namespace P2PNet.Vpn.Internal;

/// <summary>
/// A device that can say, without waiting, whether another packet is already queued (a TUN device: a non-blocking
/// read). A reader that has just woken for one packet takes the rest of the burst this way and answers it once: the
/// user-space stack acknowledges a burst of segments with one ACK instead of one each, as Linux's GRO and compressed
/// SACKs do.
/// </summary>
/// <remarks>Called only by the device's one reader, between its ordinary reads.</remarks>
internal interface IPacketBatchSource
{
    /// <summary>Reads a packet if one is queued; false when none is. A closed device returns true with length 0.</summary>
    bool TryReadPacket(Memory<byte> buffer, out int length);

    /// <summary>As <see cref="TryReadPacket"/>, through the offload interface (a super-packet with its offload state).</summary>
    bool TryReadOffloaded(Memory<byte> buffer, out OffloadedPacket packet);
}
