using System.Buffers.Binary;
using P2PNet.Vpn.Internal;
using P2PNet.Vpn.NetStack.Internal;

namespace P2PNet.Vpn.NetStack;

// Per-protocol demultiplexing and the packets the stack itself answers with (RST, ICMP).
public sealed partial class IPStack
{
    private void ReceiveTcp(ReadOnlySpan<byte> packet, in IpPacket ip)
    {
        var tcp = packet.Slice(ip.HeaderLength, ip.PayloadLength);
        if (!TcpSegment.TryParse(tcp, out var segment))
        {
            CountDrop(DropReason.Malformed);
            return;
        }
        if (IpPacket.TransportChecksum(packet, ip) != 0)
        {
            CountDrop(DropReason.BadChecksum);
            return;
        }
        Metrics.SegmentReceived();
        var payload = tcp.Slice(segment.PayloadOffset, segment.PayloadLength);
        ulong key = ConnectionKey(ip.Source, segment.SourcePort, segment.DestinationPort);
        if (_connections.TryGetValue(key, out var connection))
        {
            // RFC 9293 §3.6.1 / RFC 6191: a new SYN above the old incarnation's sequence space reopens a TIME_WAIT pair.
            if (!(connection.State == TcpState.TimeWait && segment.Flags == TcpFlags.Syn
                && Seq.Gt(segment.SequenceNumber, connection.ReceiveNext)
                && (_anyListener is not null || _listeners.ContainsKey(segment.DestinationPort))))
            {
                connection.OnSegment(segment, payload, NowMs);
                return;
            }
            connection.Terminate();
        }
        if ((segment.Flags & (TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Rst)) == TcpFlags.Syn
            && (_listeners.GetValueOrDefault(segment.DestinationPort) ?? _anyListener) is { } listener)
        {
            // SYN-flood protection: half-open connections are bounded stack-wide; the accept queue per listener.
            if (_halfOpen >= Options.MaxHalfOpenConnections || !listener.HasRoom)
            {
                CountDrop(DropReason.SynFlood);
                return;
            }
            if (listener.SynGate is { } gate)
            {
                gate.OnSyn(this, listener, ip.Source, segment); // answered later: AcceptSyn or RefuseSyn
                return;
            }
            var accepted = new TcpConnection(this, ip.Source, segment.SourcePort, segment.DestinationPort, listener);
            _connections.Add(accepted.Key, accepted);
            Metrics.ConnectionOpened();
            accepted.StartAccept(segment);
            return;
        }
        // RFC 9293 §3.10.7.1: a segment for no connection is answered with a reset, unless it is one.
        if ((segment.Flags & TcpFlags.Rst) == 0)
        {
            CountDrop(DropReason.NoSocket);
            if ((segment.Flags & TcpFlags.Ack) != 0)
            {
                SendReset(ip.Source, segment.SourcePort, segment.DestinationPort, segment.AcknowledgmentNumber, 0, TcpFlags.Rst);
            }
            else
            {
                SendReset(ip.Source, segment.SourcePort, segment.DestinationPort, 0,
                    segment.SequenceNumber + (uint)segment.SequenceLength, TcpFlags.Rst | TcpFlags.Ack);
            }
        }
    }

    /// <summary>Queues a bare RST (or RST+ACK) segment.</summary>
    internal void SendReset(uint remote, ushort remotePort, ushort localPort, uint seq, uint ack, TcpFlags flags)
    {
        const int length = 40;
        byte[] buffer = RentPacket(length);
        var packet = buffer.AsSpan(0, length);
        IpPacket.WriteIpv4Header(packet, AddressValue, remote, IpPacket.ProtocolTcp, length, NextIpId());
        var tcp = packet[20..];
        BinaryPrimitives.WriteUInt16BigEndian(tcp, localPort);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], remotePort);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], seq);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], ack);
        tcp[12] = 5 << 4;
        tcp[13] = (byte)flags;
        BinaryPrimitives.WriteUInt32BigEndian(tcp[14..], 0); // window 0, checksum 0 (filled below)
        BinaryPrimitives.WriteUInt16BigEndian(tcp[18..], 0);
        IpPacket.WriteTransportChecksum(packet, 16, udp: false);
        Enqueue(buffer, length);
        Metrics.SegmentsSent(1);
    }

    private void ReceiveUdp(ReadOnlySpan<byte> packet, in IpPacket ip)
    {
        var udp = packet.Slice(ip.HeaderLength, ip.PayloadLength);
        if (udp.Length < 8)
        {
            CountDrop(DropReason.Malformed);
            return;
        }
        int length = BinaryPrimitives.ReadUInt16BigEndian(udp[4..]);
        if (length < 8 || length > udp.Length)
        {
            CountDrop(DropReason.Malformed);
            return;
        }
        // RFC 768: checksum 0 means none was computed; anything else must verify.
        if (BinaryPrimitives.ReadUInt16BigEndian(udp[6..]) != 0 && IpPacket.TransportChecksum(packet, ip) != 0)
        {
            CountDrop(DropReason.BadChecksum);
            return;
        }
        ushort sourcePort = BinaryPrimitives.ReadUInt16BigEndian(udp);
        ushort destinationPort = BinaryPrimitives.ReadUInt16BigEndian(udp[2..]);
        if (_udpSockets.TryGetValue(destinationPort, out var socket))
        {
            if (!socket.Deliver(ip.Source, sourcePort, udp[8..length]))
            {
                CountDrop(DropReason.QueueFull);
            }
            return;
        }
        CountDrop(DropReason.NoSocket);
        SendIcmpError(packet[..ip.TotalLength], ip, type: 3, code: 3); // RFC 1122 §4.1.3.1: port unreachable
    }

    private void ReceiveIcmp(ReadOnlySpan<byte> packet, in IpPacket ip)
    {
        var icmp = packet.Slice(ip.HeaderLength, ip.PayloadLength);
        if (icmp.Length < 8 || Segmenter.Finish(Segmenter.Sum(icmp)) != 0)
        {
            CountDrop(icmp.Length < 8 ? DropReason.Malformed : DropReason.BadChecksum);
            return;
        }
        if (icmp[0] == 3)
        {
            ReceiveDestinationUnreachable(icmp);
            return;
        }
        if (icmp[0] != 8 || icmp[1] != 0)
        {
            return; // of the rest only echo requests need an answer (RFC 1122 §3.2.2.6)
        }
        int length = 20 + icmp.Length;
        if (length > Options.Mtu)
        {
            return; // the stack does not fragment what it sends: a reply larger than the MTU is not sent
        }
        byte[] buffer = RentPacket(length);
        var reply = buffer.AsSpan(0, length);
        IpPacket.WriteIpv4Header(reply, AddressValue, ip.Source, IpPacket.ProtocolIcmp, length, NextIpId());
        icmp.CopyTo(reply[20..]);
        reply[20] = 0; // echo reply, identifier, sequence number and data as received
        reply[22] = 0;
        reply[23] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(reply[22..], Segmenter.Finish(Segmenter.Sum(reply[20..])));
        Enqueue(buffer, length);
    }

    /// <summary>An ICMP destination unreachable about a TCP segment this stack sent (RFC 792: the quoted IP header and
    /// at least 8 bytes of TCP — the ports and the sequence number). "Fragmentation needed" lowers the connection's
    /// MSS to the path (RFC 1191 §6); port or protocol unreachable refuses a connection still in SYN-SENT (hard errors
    /// only there, as RFC 5461 advises); everything else is a soft error and ignored. The connection checks the quoted
    /// sequence number against what it has in flight (RFC 5927 §4.1), so a forged error needs the window too.</summary>
    private void ReceiveDestinationUnreachable(ReadOnlySpan<byte> icmp)
    {
        var quoted = icmp[8..];
        if (quoted.Length < 28 || quoted[0] >> 4 != 4)
        {
            CountDrop(DropReason.Malformed);
            return;
        }
        int ihl = (quoted[0] & 0x0F) * 4;
        if (ihl < 20 || quoted.Length < ihl + 8 || quoted[9] != IpPacket.ProtocolTcp
            || BinaryPrimitives.ReadUInt32BigEndian(quoted[12..]) != AddressValue)
        {
            return; // not about a TCP segment of ours (UDP senders are not told: datagrams carry no connection)
        }
        var tcp = quoted[ihl..];
        uint remote = BinaryPrimitives.ReadUInt32BigEndian(quoted[16..]);
        ushort localPort = BinaryPrimitives.ReadUInt16BigEndian(tcp);
        ushort remotePort = BinaryPrimitives.ReadUInt16BigEndian(tcp[2..]);
        uint sequence = BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]);
        if (!_connections.TryGetValue(ConnectionKey(remote, remotePort, localPort), out var connection))
        {
            return;
        }
        switch (icmp[1])
        {
            case 4:
                int mtu = BinaryPrimitives.ReadUInt16BigEndian(icmp[6..]);
                if (mtu == 0)
                {
                    // A router from before RFC 1191 names no MTU: take the plateau below the quoted datagram (§7).
                    mtu = PathMtuPlateau(BinaryPrimitives.ReadUInt16BigEndian(quoted[2..]));
                }
                connection.OnPacketTooBig(sequence, mtu, NowMs);
                break;
            case 2 or 3:
                connection.OnUnreachable(sequence);
                break;
        }
    }

    /// <summary>RFC 1191 §7's table of common MTUs: the largest below <paramref name="length"/>.</summary>
    internal static int PathMtuPlateau(int length)
    {
        ReadOnlySpan<int> plateaus = [32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];
        foreach (int plateau in plateaus)
        {
            if (plateau < length)
            {
                return plateau;
            }
        }
        return 68;
    }

    /// <summary>Queues an ICMP error quoting <paramref name="offending"/> (its header and up to 548 bytes more, so the
    /// error fits 576 bytes: RFC 1812 §4.3.2.3), within <see cref="NetStackOptions.IcmpErrorsPerSecond"/>;
    /// <paramref name="nextHopMtu"/> goes in the second half of the rest-of-header word ("fragmentation needed").</summary>
    private void SendIcmpError(ReadOnlySpan<byte> offending, in IpPacket ip, byte type, byte code, ushort nextHopMtu = 0)
    {
        // A token bucket (RFC 1812 §4.3.2.8): refilled at the rate, holding at most one second's worth.
        long now = NowMs;
        long capacity = Options.IcmpErrorsPerSecond * 1000L;
        _icmpTokens = _icmpTokensAtMs < 0 ? capacity
            : Math.Min(capacity, _icmpTokens + ((now - _icmpTokensAtMs) * Options.IcmpErrorsPerSecond));
        _icmpTokensAtMs = now;
        if (_icmpTokens < 1000)
        {
            return;
        }
        _icmpTokens -= 1000;
        int quoted = Math.Min(offending.Length, 576 - 28);
        int length = 28 + quoted;
        byte[] buffer = RentPacket(length);
        var packet = buffer.AsSpan(0, length);
        IpPacket.WriteIpv4Header(packet, AddressValue, ip.Source, IpPacket.ProtocolIcmp, length, NextIpId());
        var icmp = packet[20..];
        icmp[0] = type;
        icmp[1] = code;
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], 0);
        BinaryPrimitives.WriteUInt32BigEndian(icmp[4..], nextHopMtu);
        offending[..quoted].CopyTo(icmp[8..]);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], Segmenter.Finish(Segmenter.Sum(icmp)));
        Enqueue(buffer, length);
    }

    /// <summary>Queues a UDP datagram (under the lock).</summary>
    internal void SendUdp(ushort localPort, uint remote, ushort remotePort, ReadOnlySpan<byte> payload)
    {
        int length = 28 + payload.Length;
        byte[] buffer = RentPacket(length);
        var packet = buffer.AsSpan(0, length);
        IpPacket.WriteIpv4Header(packet, AddressValue, remote, IpPacket.ProtocolUdp, length, NextIpId());
        var udp = packet[20..];
        BinaryPrimitives.WriteUInt16BigEndian(udp, localPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], remotePort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)(8 + payload.Length));
        payload.CopyTo(udp[8..]);
        IpPacket.WriteTransportChecksum(packet, 6, udp: true);
        Enqueue(buffer, length);
    }
}
