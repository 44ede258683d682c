using System.Buffers.Binary;
using System.Security.Cryptography;
using P2PNet.Vpn.Internal;
using P2PNet.Vpn.NetStack.Internal;

namespace P2PNet.Vpn.NetStack;

// Sending: the send ring, segment building, ACK processing, loss recovery (RFC 5681, 6582, 6675-style SACK holes).
public sealed partial class TcpConnection
{
    // A window of a few thousand segments at 1% loss holds dozens of holes; 128 ranges is 1 KiB, allocated on the first
    // SACK block (an idle or loss-free connection holds none).
    private const int MaxSackedRanges = 128;
    private const int MaxTrackedRetransmissions = 64;
    private const int DupThresh = 3;

    private readonly int _sendCapacity;
    private uint _iss;
    private uint _sndUna;
    private uint _sndNxt;
    private uint _sndMax;
    private uint _sndWl1;
    private uint _sndWl2;
    private long _sndWnd;
    private long _maxSndWnd;
    private int _sndWScale;
    private bool _wsOk;
    private bool _tsOk;
    private bool _sackOk;
    private int _mss = 536;

    // The send ring holds bytes from _sndHeadSeq (the first unacknowledged data byte) on.
    private byte[]? _sndBuf;
    private int _sndHead;
    private int _sndLen;
    private uint _sndHeadSeq;
    private bool _finQueued;

    private CongestionControl _cc;
    private int _dupAcks;
    private bool _inRecovery;
    private uint _recover;
    private uint _rexmitHigh;

    // SACK scoreboard: ranges the peer holds above SND.UNA, sorted and merged.
    private (uint Start, uint End)[]? _sacked;
    private int _sackedCount;
    private long _sackedBytes;

    // Retransmissions during SACK recovery with SND.MAX at the time each was sent: once the peer SACKs data sent
    // DupThresh segments after one, and that one is still missing, it was lost again (the idea of RFC 8985's RACK).
    private (uint Start, uint End, uint SentBelow)[]? _rexmits;
    private int _rexmitCount;

    private long _bytesAcked;
    private long _segmentsSent;
    private long _retransmits;
    private long _timeouts;
    private long _fastRetransmits;
    private long _lostRetransmits;
    private long _tailLossProbes;

    private uint DataEnd => _sndHeadSeq + (uint)_sndLen;

    internal void StartConnect()
    {
        _iss = NewIss();
        _sndUna = _iss;
        _sndNxt = _iss + 1;
        _sndMax = _sndNxt;
        _sndHeadSeq = _iss + 1;
        _state = TcpState.SynSent;
        _rcvWScale = _options.WindowScaling ? OwnWindowScale() : 0;
        _timedAt = _stack.NowMs;
        _timedSeq = _iss + 1; // the SYN is timed: its ACK gives the first RTT sample (Karn: unless it was resent)
        SendSyn(ack: false);
        ArmRto(_stack.NowMs);
    }

    internal void StartAccept(in TcpSegment syn)
    {
        _iss = NewIss();
        _sndUna = _iss;
        _sndNxt = _iss + 1;
        _sndMax = _sndNxt;
        _sndHeadSeq = _iss + 1;
        _irs = syn.SequenceNumber;
        _rcvNxt = _irs + 1;
        _rcvHeadSeq = _rcvNxt;
        _rcvAdvEdge = _rcvNxt;
        _sndWnd = syn.Window;
        _maxSndWnd = _sndWnd;
        _sndWl1 = syn.SequenceNumber;
        _state = TcpState.SynReceived;
        Negotiate(syn);
        _stack.HalfOpenChanged(1);
        _listener!.HalfOpenAdded();
        _timedAt = _stack.NowMs;
        _timedSeq = _iss + 1;
        SendSyn(ack: true);
        ArmRto(_stack.NowMs);
    }

    // RFC 9293 §3.4.1 / RFC 6528: an unpredictable ISS.
    private static uint NewIss()
    {
        Span<byte> bytes = stackalloc byte[4];
        RandomNumberGenerator.Fill(bytes);
        return BinaryPrimitives.ReadUInt32LittleEndian(bytes);
    }

    private void SendSyn(bool ack)
    {
        // SYN-ACK carries only the options the peer offered (RFC 7323 §2.2, §3.2; RFC 2018 §2).
        bool ws = ack ? _wsOk : _options.WindowScaling;
        bool ts = ack ? _tsOk : _options.Timestamps;
        bool sack = ack ? _sackOk : _options.Sack;
        Span<byte> options = stackalloc byte[20];
        int n = 0;
        options[n++] = 2;
        options[n++] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(options[n..], (ushort)(_options.Mtu - 40));
        n += 2;
        if (ts)
        {
            if (sack)
            {
                options[n++] = 4;
                options[n++] = 2;
            }
            else
            {
                options[n++] = 1;
                options[n++] = 1;
            }
            n += WriteTimestamp(options[n..]);
        }
        else if (sack)
        {
            options[n++] = 1;
            options[n++] = 1;
            options[n++] = 4;
            options[n++] = 2;
        }
        if (ws)
        {
            options[n++] = 1;
            options[n++] = 3;
            options[n++] = 3;
            options[n++] = (byte)OwnWindowScale();
        }
        var flags = TcpFlags.Syn | (ack ? TcpFlags.Ack : TcpFlags.None);
        int window = Math.Min(Math.Max(ReceiveRoom, 0), ushort.MaxValue);
        EmitSegment(_iss, flags, options[..n], window, 0, 0);
    }

    private int WriteTimestamp(Span<byte> destination)
    {
        destination[0] = 8;
        destination[1] = 10;
        BinaryPrimitives.WriteUInt32BigEndian(destination[2..], (uint)_stack.NowMs);
        BinaryPrimitives.WriteUInt32BigEndian(destination[6..], _tsRecent);
        return 10;
    }

    /// <summary>A pure ACK with the current window (and SACK blocks).</summary>
    internal void SendAck()
    {
        if (_state is TcpState.Closed or TcpState.SynSent)
        {
            return;
        }
        SendData(_sndNxt, TcpFlags.Ack, 0);
    }

    /// <summary>Builds and queues one segment at <paramref name="seq"/> carrying <paramref name="length"/> bytes of the
    /// send ring (from that sequence number), with ACK, window, timestamp and SACK options.</summary>
    private void SendData(uint seq, TcpFlags flags, int length)
    {
        Span<byte> options = stackalloc byte[40];
        int n = 0;
        if (_tsOk)
        {
            options[n++] = 1;
            options[n++] = 1;
            n += WriteTimestamp(options[n..]);
        }
        // Options beyond the timestamps come out of the segment's room: data and options together stay within the MSS
        // (RFC 9293 §3.7.1's effective MSS), so the packet never outgrows the path. A full-sized segment (and each
        // segment of a super-packet) therefore carries no SACK blocks; the ACKs sent for out-of-order data carry them.
        int room = _mss + (_tsOk ? 12 : 0) - Math.Min(length, _mss) - n;
        if (_sackOk && _oooCount > 0 && room >= 12)
        {
            // RFC 2018 §4: the first block is the most recent arrival; then the others, newest first, as many as fit.
            int first = _oooCount - 1;
            for (int i = 0; i < _oooCount; i++)
            {
                if (_ooo![i] == _lastOoo)
                {
                    first = i;
                }
            }
            int blocks = Math.Min(_oooCount, Math.Min((40 - n - 2) / 8, (room - 4) / 8));
            options[n++] = 1;
            options[n++] = 1;
            options[n++] = 5;
            options[n++] = (byte)(2 + (8 * blocks));
            for (int written = 0, i = _oooCount - 1; written < blocks; written++)
            {
                int index;
                if (written == 0)
                {
                    index = first;
                }
                else
                {
                    if (i == first)
                    {
                        i--;
                    }
                    index = i--;
                }
                BinaryPrimitives.WriteUInt32BigEndian(options[n..], _ooo![index].Start);
                BinaryPrimitives.WriteUInt32BigEndian(options[(n + 4)..], _ooo[index].End);
                n += 8;
            }
        }
        int window = AdvertisableWindow();
        uint edge = _rcvNxt + (uint)window;
        if (Seq.Gt(edge, _rcvAdvEdge) || _rcvAdvEdge == 0)
        {
            _rcvAdvEdge = edge;
        }
        EmitSegment(seq, flags | TcpFlags.Ack, options[..n], window >> _rcvWScale, (int)(seq - _sndHeadSeq), length);
        _unackedSegments = 0;
        _delAckAt = -1;
        _ackNow = false;
    }

    /// <summary>Builds and queues one packet of <paramref name="length"/> bytes from the send ring. Up to an MSS it is an
    /// ordinary segment with its checksum; beyond, a super-packet the device cuts into MSS-sized segments (TSO): every
    /// segment gets this header with its own sequence number, PSH only on the last, and the checksum field holds the
    /// pseudo-header sum for the device to complete, as the kernel's CHECKSUM_PARTIAL.</summary>
    private void EmitSegment(uint seq, TcpFlags flags, ReadOnlySpan<byte> options, int window, int ringOffset, int length)
    {
        bool super = length > _mss;
        int headerLength = 20 + options.Length;
        int total = 20 + headerLength + length;
        byte[] buffer = IPStack.RentPacket(total);
        var packet = buffer.AsSpan(0, total);
        IpPacket.WriteIpv4Header(packet, _stack.AddressValue, RemoteAddress, IpPacket.ProtocolTcp, total, _stack.NextIpId());
        var tcp = packet[20..];
        BinaryPrimitives.WriteUInt16BigEndian(tcp, LocalPort);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], RemotePort);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], seq);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], (flags & TcpFlags.Ack) != 0 ? _rcvNxt : 0);
        tcp[12] = (byte)((headerLength / 4) << 4);
        tcp[13] = (byte)flags;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], (ushort)Math.Min(window, ushort.MaxValue));
        BinaryPrimitives.WriteUInt32BigEndian(tcp[16..], 0);
        options.CopyTo(tcp[20..]);
        if (length > 0)
        {
            RingRead(_sndBuf!, _sendCapacity, (_sndHead + ringOffset) % _sendCapacity, tcp.Slice(headerLength, length));
        }
        int segments = 1;
        if (super)
        {
            BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], (ushort)~Segmenter.Finish(Segmenter.PseudoHeaderSum(packet, IpPacket.ProtocolTcp, headerLength + length)));
            _stack.EnqueueOffloaded(buffer, total, new PacketOffload(true, 20, 16, SegmentationKind.TcpV4, (ushort)_mss));
            segments = (length + _mss - 1) / _mss;
        }
        else
        {
            IpPacket.WriteTransportChecksum(packet, 16, udp: false);
            _stack.Enqueue(buffer, total);
        }
        _segmentsSent += segments;
        _stack.Metrics.SegmentsSent(segments);
    }

    /// <summary>How much new data one send may carry: an MSS, or with segmentation offload as many whole MSS as fit in
    /// one 64 KiB IPv4 packet (the last segment of the data may be short; never a FIN, which goes on its own).</summary>
    private int MaxSendLength(int available, long room)
    {
        if (!_stack.SegmentationOffload || available <= _mss || room < 2L * _mss)
        {
            return _mss;
        }
        int headers = 20 + 20 + (_tsOk ? 12 : 0);
        int fit = Math.Min((ushort.MaxValue - headers) / _mss, PacketOffload.MaxSegments) * _mss;
        int length = (int)Math.Min(Math.Min(available, room), fit);
        if (length < available)
        {
            length -= length % _mss; // whole segments, so none goes out short in the middle of the stream
        }
        else if (_finQueued)
        {
            length = Math.Max(length - 1, _mss) / _mss * _mss; // leave the tail (and the FIN) to an ordinary segment
        }
        return Math.Max(length, _mss);
    }

    /// <summary>Sends what the windows allow: new data, data the peer has not SACKed after a timeout, and the FIN.</summary>
    private void TrySend()
    {
        if (_state is not (TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.Closing or TcpState.LastAck))
        {
            return;
        }
        while (true)
        {
            SkipSacked();
            uint dataEnd = DataEnd;
            int available = Seq.Gt(dataEnd, _sndNxt) ? (int)(dataEnd - _sndNxt) : 0;
            long pipe = Pipe();
            long cwndRoom = _cc.Cwnd - pipe;
            long windowRoom = (long)(_sndUna + (uint)Math.Min(_sndWnd, int.MaxValue) - _sndNxt);
            if ((int)windowRoom < 0 && _sndWnd < int.MaxValue)
            {
                windowRoom = 0;
            }
            long room = Math.Min(cwndRoom, Math.Min(windowRoom, _sndWnd));
            if (available > 0)
            {
                if (room <= 0)
                {
                    break;
                }
                bool retransmission = Seq.Lt(_sndNxt, _sndMax);
                int length = (int)Math.Min(Math.Min(available, room), retransmission ? _mss : MaxSendLength(available, room));
                int untilSacked = UntilNextSacked(_sndNxt);
                if (untilSacked > 0 && untilSacked < length)
                {
                    length = untilSacked;
                }
                // Sender SWS avoidance (RFC 9293 §3.8.6.2.1) and Nagle: hold a small segment while data is in flight.
                if (!retransmission && length < _mss && length < available && pipe > 0)
                {
                    break;
                }
                if (!retransmission && _options.Nagle && length < _mss && pipe > 0)
                {
                    break;
                }
                var flags = TcpFlags.Ack;
                bool fin = false;
                if (_sndNxt + (uint)length == dataEnd)
                {
                    flags |= TcpFlags.Psh;
                    if (_finQueued)
                    {
                        flags |= TcpFlags.Fin;
                        fin = true;
                    }
                }
                SendData(_sndNxt, flags, length);
                if (retransmission)
                {
                    CountRetransmit();
                }
                else if (!_tsOk && _timedAt < 0)
                {
                    _timedSeq = _sndNxt + (uint)length;
                    _timedAt = _stack.NowMs;
                }
                _sndNxt += (uint)length + (fin ? 1u : 0u);
                _sndMax = Seq.Max(_sndMax, _sndNxt);
                if (_rtoAt < 0)
                {
                    ArmRto(_stack.NowMs);
                }
                continue;
            }
            if (_finQueued && _sndNxt == dataEnd)
            {
                bool retransmission = Seq.Lt(_sndNxt, _sndMax);
                SendData(_sndNxt, TcpFlags.Ack | TcpFlags.Fin, 0);
                if (retransmission)
                {
                    CountRetransmit();
                }
                _sndNxt++;
                _sndMax = Seq.Max(_sndMax, _sndNxt);
                if (_rtoAt < 0)
                {
                    ArmRto(_stack.NowMs);
                }
            }
            break;
        }
        // Zero window with data waiting and nothing in flight: the persist timer probes (RFC 9293 §3.8.6.1).
        if (_sndWnd == 0 && Seq.Gt(DataEnd, _sndNxt) && _sndNxt == _sndUna && _persistAt < 0)
        {
            _persistAt = _stack.NowMs + (long)_rtoMs;
            _persistBackoff = 0;
        }
    }

    private void CountRetransmit()
    {
        _retransmits++;
        _stack.Metrics.Retransmit();
    }

    /// <summary>Moves SND.NXT past a range the peer already holds (only while resending below SND.MAX).</summary>
    private void SkipSacked()
    {
        for (int i = 0; i < _sackedCount; i++)
        {
            if (Seq.Lt(_sndNxt, _sndMax) && Seq.InRange(_sndNxt, _sacked![i].Start, _sacked[i].End))
            {
                _sndNxt = Seq.Min(_sacked[i].End, _sndMax);
            }
        }
    }

    private int UntilNextSacked(uint seq)
    {
        for (int i = 0; i < _sackedCount; i++)
        {
            if (Seq.Gt(_sacked![i].Start, seq))
            {
                return (int)(_sacked[i].Start - seq);
            }
        }
        return 0;
    }

    /// <summary>Processes the ACK field (§3.10.7.4 fifth check); false when the segment is to be dropped.</summary>
    private bool ProcessAck(in TcpSegment segment, long now)
    {
        uint ack = segment.AcknowledgmentNumber;
        if (Seq.Gt(ack, _sndMax))
        {
            SendAck(); // acknowledges something not yet sent
            return false;
        }
        // RFC 5961 §5.2: an ACK older than SND.UNA − MAX.SND.WND is a blind-injection attempt.
        long maxWindow = Math.Max(_maxSndWnd, ushort.MaxValue);
        if (Seq.Lt(ack, _sndUna - (uint)Math.Min(maxWindow, int.MaxValue)))
        {
            SendAck();
            return false;
        }
        if (_sackOk && segment.SackCount > 0)
        {
            for (int i = 0; i < segment.SackCount; i++)
            {
                AddSacked(segment.Sack[i * 2], segment.Sack[(i * 2) + 1]);
            }
        }
        long newWindow = (long)segment.Window << _sndWScale;
        long flight = _sndNxt - _sndUna;
        if (Seq.Gt(ack, _sndUna))
        {
            uint acked = ack - _sndUna;
            int dataAcked = Seq.Gt(ack, _sndHeadSeq) ? (int)Math.Min(ack - _sndHeadSeq, (uint)_sndLen) : 0;
            bool finWasOutstanding = _finQueued && Seq.Gt(_sndMax, DataEnd);
            uint finSeq = DataEnd;
            if (dataAcked > 0)
            {
                _sndHead = (_sndHead + dataAcked) % _sendCapacity;
                _sndLen -= dataAcked;
                _sndHeadSeq += (uint)dataAcked;
                _bytesAcked += dataAcked;
                ReleaseSendBufferIfEmpty();
                _writable.Set();
            }
            _sndUna = ack;
            _probesSent = 0;
            if (Seq.Lt(_sndNxt, _sndUna))
            {
                _sndNxt = _sndUna;
            }
            // RTT (RFC 6298 §3 with Karn's rule; RFC 7323 §4 with timestamps).
            if (_tsOk && segment.HasTimestamp && segment.TsEcr != 0)
            {
                long sample = (uint)now - segment.TsEcr;
                if (sample is >= 0 and < 600_000)
                {
                    SampleRtt(sample);
                }
            }
            else if (_timedAt >= 0 && Seq.Ge(ack, _timedSeq))
            {
                SampleRtt(now - _timedAt);
                _timedAt = -1;
            }
            _retries = 0;
            PruneSacked();
            if (_inRecovery)
            {
                if (Seq.Ge(ack, _recover))
                {
                    _inRecovery = false;
                    _rexmitCount = 0;
                    _cc.OnRecoveryEnd(_sndNxt - _sndUna);
                }
                else
                {
                    // RFC 6582 §3.2 step 5: a partial ACK: resend the next hole at once.
                    if (!_sackOk)
                    {
                        _cc.Deflate(acked);
                        _rexmitHigh = _sndUna;
                        RetransmitNextHole();
                    }
                }
            }
            else
            {
                _cc.OnAck((int)Math.Min(acked, int.MaxValue), flight, now, _srttMs);
            }
            _dupAcks = 0;
            if (_sndUna == _sndMax)
            {
                _rtoAt = -1;
                _probeAt = -1;
            }
            else
            {
                ArmRto(now);
            }
            if (finWasOutstanding && Seq.Gt(ack, finSeq))
            {
                switch (_state)
                {
                    case TcpState.FinWait1:
                        _state = TcpState.FinWait2;
                        break;
                    case TcpState.Closing:
                        EnterTimeWait();
                        break;
                    case TcpState.LastAck:
                        Terminate();
                        return false;
                    default:
                        break;
                }
            }
        }
        else if (ack == _sndUna && segment.PayloadLength == 0 && !segment.Has(TcpFlags.Fin)
            && (newWindow == _sndWnd || (_sackOk && segment.SackCount > 0)) && Seq.Gt(_sndMax, _sndUna))
        {
            // A duplicate ACK (RFC 5681 §2; with SACK, any ACK that reports new SACK blocks counts, RFC 6675 §2, as
            // Linux moves its advertised window on almost every ACK).
            _dupAcks++;
            if (_inRecovery && !_sackOk)
            {
                _cc.Inflate(_mss);
            }
        }
        // Loss detection: three duplicate ACKs, or more than three segments SACKed above a hole (RFC 6675 §4 IsLost).
        if (!_inRecovery && Seq.Gt(_sndMax, _sndUna) && (_dupAcks >= 3 || (_sackOk && _sackedBytes > 3L * _mss)))
        {
            EnterRecovery(now);
        }
        else if (!_inRecovery && _sackOk && _sackedCount > 0 && Seq.Gt(_sndMax, _sndUna))
        {
            ArmReorderTimer(now); // too few segments above the hole for DupThresh (a small window, or the tail)
        }
        else if (_inRecovery && _sackOk)
        {
            ResendLostRetransmissions();
            // RFC 6675 §5 (NextSeg rule 1): resend lost holes while the pipe has room for a segment.
            for (int i = 0; i < 16 && Pipe() + _mss <= _cc.Cwnd; i++)
            {
                if (!RetransmitNextHole())
                {
                    break;
                }
            }
        }
        // Window update (§3.10.7.4): only from a segment newer than the last one that set it.
        if (Seq.Lt(_sndWl1, segment.SequenceNumber) || (_sndWl1 == segment.SequenceNumber && Seq.Le(_sndWl2, ack)))
        {
            _sndWnd = newWindow;
            _sndWl1 = segment.SequenceNumber;
            _sndWl2 = ack;
            _maxSndWnd = Math.Max(_maxSndWnd, _sndWnd);
            if (_sndWnd > 0)
            {
                _persistAt = -1;
            }
        }
        return true;
    }

    /// <summary>Fast retransmit: enters loss recovery (RFC 5681 §3.2, RFC 6582, RFC 6675 §5) and resends the first hole.</summary>
    private void EnterRecovery(long now)
    {
        _inRecovery = true;
        _rexmitCount = 0;
        _probeAt = -1;
        _rackAt = -1;
        _recover = _sndMax;
        _fastRetransmits++;
        _cc.OnFastLoss(_sndNxt - _sndUna, now);
        _cc.EnterRecovery(_sackOk ? 0 : 3L * _mss);
        _rexmitHigh = _sndUna;
        RetransmitNextHole();
    }

    /// <summary>Resends the first hole at or above the last resent one that lies below the highest SACKed byte (or at
    /// SND.UNA without SACK).</summary>
    private bool RetransmitNextHole()
    {
        uint start = Seq.Max(_sndUna, _rexmitHigh);
        for (int i = 0; i < _sackedCount; i++)
        {
            if (Seq.InRange(start, _sacked![i].Start, _sacked[i].End))
            {
                start = _sacked[i].End;
            }
        }
        if (!Seq.Lt(start, _sndMax))
        {
            return false;
        }
        if (_sackOk && _sackedCount > 0 && !Seq.Lt(start, _sacked![_sackedCount - 1].End) && start != _sndUna)
        {
            return false; // nothing known lost above here; new data goes out under cwnd instead
        }
        uint dataEnd = DataEnd;
        int length = (int)Math.Min((uint)_mss, _sndMax - start);
        int untilSacked = UntilNextSacked(start);
        if (untilSacked > 0)
        {
            length = Math.Min(length, untilSacked);
        }
        if (Seq.Ge(start, dataEnd))
        {
            SendData(start, TcpFlags.Ack | TcpFlags.Fin, 0); // only the FIN is outstanding there
            length = 1;
        }
        else
        {
            length = Math.Min(length, (int)(dataEnd - start));
            bool fin = _finQueued && start + (uint)length == dataEnd && Seq.Gt(_sndMax, dataEnd);
            SendData(start, TcpFlags.Ack | (fin ? TcpFlags.Fin : TcpFlags.None), length);
        }
        if (_sackOk && _inRecovery)
        {
            TrackRetransmission(start, start + (uint)length);
        }
        _rexmitHigh = start + (uint)length;
        _timedAt = -1;
        CountRetransmit();
        ArmRto(_stack.NowMs);
        return true;
    }

    /// <summary>RFC 6675 §4 pipe: bytes in flight, less what the peer SACKed and what is deemed lost and not yet
    /// resent (outside recovery, and without SACK, simply SND.NXT − SND.UNA less the SACKed bytes).</summary>
    private long Pipe()
    {
        long outstanding = (long)(_sndNxt - _sndUna);
        if (!_sackOk)
        {
            return outstanding;
        }
        long pipe = outstanding - _sackedBytes;
        if (_inRecovery && _sackedCount > 0)
        {
            pipe -= HoleBytes(Seq.Max(_sndUna, _rexmitHigh), LostEdge());
        }
        return Math.Max(pipe, 0);
    }

    /// <summary>Every unSACKed byte below this has more than (DupThresh − 1) × MSS bytes SACKed above it (IsLost).</summary>
    private uint LostEdge()
    {
        long above = 0;
        long threshold = (long)(DupThresh - 1) * _mss;
        for (int i = _sackedCount - 1; i >= 0; i--)
        {
            above += _sacked![i].End - _sacked[i].Start;
            if (above > threshold)
            {
                return _sacked[i].Start;
            }
        }
        return _sndUna;
    }

    /// <summary>Bytes in [from, to) that the peer has not SACKed.</summary>
    private long HoleBytes(uint from, uint to)
    {
        if (!Seq.Lt(from, to))
        {
            return 0;
        }
        long holes = to - from;
        for (int i = 0; i < _sackedCount; i++)
        {
            uint start = Seq.Max(_sacked![i].Start, from);
            uint end = Seq.Min(_sacked[i].End, to);
            if (Seq.Lt(start, end))
            {
                holes -= end - start;
            }
        }
        return holes;
    }

    private void TrackRetransmission(uint start, uint end)
    {
        _rexmits ??= new (uint, uint, uint)[MaxTrackedRetransmissions];
        if (_rexmitCount == MaxTrackedRetransmissions)
        {
            Array.Copy(_rexmits, 1, _rexmits, 0, _rexmitCount - 1); // the oldest goes: the RTO still covers it
            _rexmitCount--;
        }
        _rexmits[_rexmitCount++] = (start, end, _sndMax);
    }

    /// <summary>Resends, once more, every tracked retransmission still missing although the peer has SACKed more than
    /// DupThresh segments of data sent after it; forgets those acknowledged or SACKed.</summary>
    private void ResendLostRetransmissions()
    {
        if (_rexmitCount == 0)
        {
            return;
        }
        uint highest = _sackedCount > 0 ? _sacked![_sackedCount - 1].End : _sndUna;
        int kept = 0;
        for (int i = 0; i < _rexmitCount; i++)
        {
            var (start, end, sentBelow) = _rexmits![i];
            if (Seq.Le(end, _sndUna) || HoleBytes(Seq.Max(start, _sndUna), end) == 0)
            {
                continue; // delivered
            }
            if (Seq.Gt(highest, sentBelow + ((uint)DupThresh * (uint)_mss)))
            {
                start = Seq.Max(start, _sndUna);
                int length = (int)Math.Min((uint)_mss, end - start);
                int untilSacked = UntilNextSacked(start);
                if (untilSacked > 0)
                {
                    length = Math.Min(length, untilSacked);
                }
                uint dataEnd = DataEnd;
                if (Seq.Lt(start, dataEnd) && length > 0)
                {
                    length = Math.Min(length, (int)(dataEnd - start));
                    SendData(start, TcpFlags.Ack, length);
                    CountRetransmit();
                    _lostRetransmits++;
                    sentBelow = _sndMax;
                }
            }
            _rexmits[kept++] = (start, end, sentBelow);
        }
        _rexmitCount = kept;
    }

    private void AddSacked(uint start, uint end)
    {
        // Only blocks inside (SND.UNA, SND.MAX] are believed (RFC 2018 §3; anything else is stale or forged).
        if (!Seq.Lt(start, end) || !Seq.Ge(start, _sndUna) || Seq.Gt(end, _sndMax))
        {
            return;
        }
        _sacked ??= new (uint, uint)[MaxSackedRanges];
        int i = 0;
        while (i < _sackedCount && Seq.Lt(_sacked[i].End, start))
        {
            i++;
        }
        int j = i;
        while (j < _sackedCount && Seq.Le(_sacked[j].Start, end))
        {
            start = Seq.Min(start, _sacked[j].Start);
            end = Seq.Max(end, _sacked[j].End);
            j++;
        }
        int merged = j - i;
        if (merged == 0)
        {
            if (_sackedCount == MaxSackedRanges)
            {
                return;
            }
            Array.Copy(_sacked, i, _sacked, i + 1, _sackedCount - i);
            _sackedCount++;
        }
        else if (merged > 1)
        {
            Array.Copy(_sacked, j, _sacked, i + 1, _sackedCount - j);
            _sackedCount -= merged - 1;
        }
        _sacked[i] = (start, end);
        RecountSacked();
    }

    private void PruneSacked()
    {
        int drop = 0;
        while (drop < _sackedCount && Seq.Le(_sacked![drop].End, _sndUna))
        {
            drop++;
        }
        if (drop > 0)
        {
            Array.Copy(_sacked!, drop, _sacked!, 0, _sackedCount - drop);
            _sackedCount -= drop;
        }
        if (_sackedCount > 0 && Seq.Lt(_sacked![0].Start, _sndUna))
        {
            _sacked[0].Start = _sndUna;
        }
        RecountSacked();
    }

    private void RecountSacked()
    {
        long total = 0;
        for (int i = 0; i < _sackedCount; i++)
        {
            total += _sacked![i].End - _sacked[i].Start;
        }
        _sackedBytes = total;
    }
}
