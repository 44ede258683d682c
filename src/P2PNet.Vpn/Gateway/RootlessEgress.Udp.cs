using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using P2PNet.Vpn.Gateway.Internal;
using P2PNet.Vpn.NetStack.Internal;

namespace P2PNet.Vpn.Gateway;

// UDP: one connected OS socket per flow (UdpEgressFlow), closed when idle.
public sealed partial class RootlessEgress
{
    private readonly Dictionary<FlowKey, UdpEgressFlow> _udpFlows = [];
    private long _udpFlowsTotal;

    private async ValueTask ReceiveUdpAsync(Memory<byte> packet, IpPacket ip, CancellationToken cancellationToken)
    {
        var udp = packet.Span.Slice(ip.HeaderLength, ip.PayloadLength);
        if (udp.Length < EgressPackets.UdpHeaderLength)
        {
            Drop(RootlessEgressDropReason.Malformed);
            return;
        }
        int length = BinaryPrimitives.ReadUInt16BigEndian(udp[4..]);
        if (length < EgressPackets.UdpHeaderLength || length > udp.Length)
        {
            Drop(RootlessEgressDropReason.Malformed);
            return;
        }
        // RFC 768: checksum 0 means none was computed; anything else must verify.
        if (BinaryPrimitives.ReadUInt16BigEndian(udp[6..]) != 0 && IpPacket.TransportChecksum(packet.Span, ip) != 0)
        {
            Drop(RootlessEgressDropReason.BadChecksum);
            return;
        }
        if (ip.Destination == _localAddress)
        {
            Drop(RootlessEgressDropReason.LocalAddress);
            return;
        }
        var key = new FlowKey(ip.Source, BinaryPrimitives.ReadUInt16BigEndian(udp), ip.Destination, BinaryPrimitives.ReadUInt16BigEndian(udp[2..]));
        var payload = packet.Slice(ip.HeaderLength + EgressPackets.UdpHeaderLength, length - EgressPackets.UdpHeaderLength);
        UdpEgressFlow? flow;
        lock (_lock)
        {
            if (!_udpFlows.TryGetValue(key, out flow) && _udpFlows.Count >= Options.MaxUdpFlows)
            {
                Drop(RootlessEgressDropReason.UdpFlowLimit);
                return;
            }
        }
        if (flow is null)
        {
            // Only this loop adds flows, so nobody else can have added this one meanwhile.
            try
            {
                flow = UdpEgressFlow.Open(this, key);
            }
            catch (SocketException)
            {
                Drop(RootlessEgressDropReason.SendFailed);
                return;
            }
            lock (_lock)
            {
                if (_disposed)
                {
                    flow.Dispose();
                    return;
                }
                _udpFlows.Add(key, flow);
                _udpFlowsTotal++;
            }
            _tasks.Track(flow.ReceiveLoopAsync());
            EgressLog.UdpFlowOpened(_logger, key.MemberEndPoint, key.DestinationEndPoint);
        }
        try
        {
            await flow.SendAsync(payload, cancellationToken).ConfigureAwait(false);
            CountBytesOut(payload.Length);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            Drop(RootlessEgressDropReason.SendFailed); // no route, or the flow was closed as idle meanwhile
        }
    }

    /// <summary>A datagram from a flow's destination goes to the member, from the destination's address and port.</summary>
    internal async ValueTask DeliverUdpAsync(FlowKey key, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        int length = EgressPackets.Ipv4HeaderLength + EgressPackets.UdpHeaderLength + payload.Length;
        byte[] packet = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            EgressPackets.WriteUdp(packet, key.Destination, key.DestinationPort, key.Member, key.MemberPort, payload.Span, NextIpId());
            CountBytesIn(payload.Length);
            await WriteFragmentedAsync(packet, length, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(packet);
        }
    }

    /// <summary>The destination refused a flow's datagram (port unreachable): the member hears it from the destination.</summary>
    internal async ValueTask DeliverPortUnreachableAsync(FlowKey key, CancellationToken cancellationToken)
    {
        byte[] packet = ArrayPool<byte>.Shared.Rent(56);
        try
        {
            int length = EgressPackets.WritePortUnreachable(packet, key.Destination, key.DestinationPort, key.Member, key.MemberPort, NextIpId());
            await WriteToVpnAsync(packet.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(packet);
        }
    }

    internal void UdpFlowEnded(UdpEgressFlow flow, string outcome)
    {
        lock (_lock)
        {
            if (_udpFlows.TryGetValue(flow.Key, out var current) && current == flow)
            {
                _udpFlows.Remove(flow.Key);
            }
        }
        flow.Dispose();
        EgressLog.UdpFlowClosed(_logger, flow.Key.MemberEndPoint, flow.Key.DestinationEndPoint, outcome);
    }
}
