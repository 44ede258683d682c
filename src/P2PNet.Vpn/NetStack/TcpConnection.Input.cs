using System.Buffers;
using P2PNet.Vpn.NetStack.Internal;

namespace P2PNet.Vpn.NetStack;

// Segment arrival (RFC 9293 §3.10.7), everything under the stack's lock.
public sealed partial class TcpConnection
{
    private TcpState _state;
    private bool _establishedOnce;

    // Receive sequence space. The receive ring holds in-order unread bytes from _rcvHeadSeq and, beyond RCV.NXT,
    // out-of-order bytes at their own offsets: the out-of-order queue is bounded by the window itself.
    private readonly int _receiveCapacity;
    private uint _irs;
    private uint _rcvNxt;
    private uint _rcvHeadSeq;
    private int _rcvHead;
    private byte[]? _rcvBuf;
    private uint _rcvAdvEdge;
    private bool _finReceived;
    private bool _pendingFin;
    private uint _pendingFinSeq;
    private int _rcvWScale;
    private uint _tsRecent;
    private int _unackedSegments;
    private bool _ackNow;
    private bool _ackDeferred;

    // Out-of-order ranges [start, end) above RCV.NXT, sorted, merged; _lastOoo is the most recent (first SACK block).
    private (uint Start, uint End)[]? _ooo;
    private int _oooCount;
    private (uint Start, uint End) _lastOoo;
    private long _lastReceivedAt;

    private long _bytesReceived;
    private long _segmentsReceived;

    private uint RcvDataEnd => _finReceived ? _rcvNxt - 1 : _rcvNxt;

    /// <summary>Window this side can offer beyond RCV.NXT: free room in the receive ring.</summary>
    private int ReceiveRoom => _receiveCapacity - (int)(RcvDataEnd - _rcvHeadSeq);

    private int AdvertisableWindow()
    {
        int room = Math.Max(ReceiveRoom, 0);
        return Math.Min(room >> _rcvWScale, ushort.MaxValue) << _rcvWScale;
    }

    internal void OnSegment(in TcpSegment segment, ReadOnlySpan<byte> payload, long now)
    {
        _segmentsReceived++;
        _lastReceivedAt = now;
        _keepAliveProbes = 0;
        switch (_state)
        {
            case TcpState.Closed:
                return;
            case TcpState.SynSent:
                OnSegmentInSynSent(segment, now);
                return;
            default:
                break;
        }
        // A retransmitted SYN in SYN-RECEIVED: our SYN-ACK was lost.
        if (_state == TcpState.SynReceived && segment.Has(TcpFlags.Syn) && !segment.Has(TcpFlags.Ack) && segment.SequenceNumber == _irs)
        {
            SendSyn(ack: true);
            return;
        }

        // RFC 7323 §5.3 R1, PAWS: a segment (not a RST) whose timestamp is older than TS.Recent is an old duplicate from
        // an earlier pass through the sequence space, or forged: not acceptable, answered with an ACK. Timestamps are
        // compared modulo 2^32.
        if (_tsOk && segment.HasTimestamp && !segment.Has(TcpFlags.Rst) && (int)(segment.TsVal - _tsRecent) < 0)
        {
            _stack.CountDrop(DropReason.Paws);
            SendAck();
            return;
        }

        // First check (§3.10.7.4): is the segment in the window?
        if (!IsAcceptable(segment))
        {
            if (!segment.Has(TcpFlags.Rst))
            {
                SendAck(); // RFC 9293: an unacceptable segment is answered with an ACK (this also answers window and keep-alive probes)
            }
            return;
        }

        // Second: RST (RFC 5961 §3.2): only an exact RCV.NXT resets; in-window elsewhere draws a challenge ACK.
        if (segment.Has(TcpFlags.Rst))
        {
            if (segment.SequenceNumber == _rcvNxt)
            {
                if (_state == TcpState.SynReceived && _listener is not null && !_establishedOnce)
                {
                    Terminate(); // a passive open returns to LISTEN: nobody saw this connection yet
                }
                else if (_state == TcpState.TimeWait)
                {
                    Terminate();
                }
                else
                {
                    Fail(TcpError.ConnectionReset, "The peer reset the connection.");
                }
            }
            else
            {
                SendAck();
            }
            return;
        }

        // Fourth: SYN in a synchronized state (RFC 5961 §4.2): challenge ACK, never a reset.
        if (segment.Has(TcpFlags.Syn))
        {
            SendAck();
            return;
        }

        if (!segment.Has(TcpFlags.Ack))
        {
            return;
        }

        if (_state == TcpState.SynReceived)
        {
            uint ack = segment.AcknowledgmentNumber;
            if (!(Seq.Gt(ack, _sndUna) && Seq.Le(ack, _sndNxt)))
            {
                _stack.SendReset(RemoteAddress, RemotePort, LocalPort, ack, 0, TcpFlags.Rst);
                return;
            }
            _sndWnd = (long)segment.Window << _sndWScale;
            _sndWl1 = segment.SequenceNumber;
            _sndWl2 = ack;
            _state = _finQueued ? TcpState.FinWait1 : TcpState.Established;
            BecomeEstablished();
        }

        if (!ProcessAck(segment, now))
        {
            return;
        }
        if (_state == TcpState.Closed)
        {
            return;
        }

        // RFC 7323 §4.3: remember the timestamp of a segment that covers RCV.NXT, never moving it back.
        if (_tsOk && segment.HasTimestamp && Seq.Le(segment.SequenceNumber, _rcvNxt) && (int)(segment.TsVal - _tsRecent) >= 0)
        {
            _tsRecent = segment.TsVal;
        }

        if (!payload.IsEmpty)
        {
            if (_state is TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2)
            {
                ReceiveData(segment.SequenceNumber, payload);
            }
        }

        if (segment.Has(TcpFlags.Fin))
        {
            uint finSeq = segment.SequenceNumber + (uint)segment.PayloadLength;
            if (!_finReceived && _state is TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2)
            {
                if (finSeq == _rcvNxt)
                {
                    ReceiveFin();
                }
                else if (Seq.Gt(finSeq, _rcvNxt))
                {
                    _pendingFin = true;
                    _pendingFinSeq = finSeq;
                }
            }
            else if (_state == TcpState.TimeWait)
            {
                _timeWaitAt = now + (long)_options.TimeWaitDuration.TotalMilliseconds; // §3.10.7.4: restart the 2 MSL timeout
                _ackNow = true;
            }
        }

        TrySend();
        if (_ackNow && _stack.DeferringAcks)
        {
            if (!_ackDeferred)
            {
                _ackDeferred = true;
                _stack.AckAfterBurst(this); // one ACK for the burst the stack is reading
            }
        }
        else if (_ackNow)
        {
            SendAck();
        }
        else if (_delAckAt < 0 && _unackedSegments > 0)
        {
            _delAckAt = now + (long)_options.DelayedAckTimeout.TotalMilliseconds;
        }
    }

    /// <summary>Under the lock, at the end of a burst: the ACK deferred by <see cref="IPStack.AckAfterBurst"/>, unless
    /// a segment sent since carried it.</summary>
    internal void SendDeferredAck()
    {
        _ackDeferred = false;
        if (_ackNow)
        {
            SendAck();
        }
    }

    private bool IsAcceptable(in TcpSegment segment)
    {
        uint window = (uint)Math.Max(Math.Max(ReceiveRoom, 0), (int)(_rcvAdvEdge - _rcvNxt));
        if (Seq.Lt(_rcvAdvEdge, _rcvNxt))
        {
            window = (uint)Math.Max(ReceiveRoom, 0);
        }
        int length = segment.SequenceLength;
        uint seq = segment.SequenceNumber;
        if (length == 0)
        {
            return window == 0 ? seq == _rcvNxt : Seq.InRange(seq, _rcvNxt, _rcvNxt + window);
        }
        if (window == 0)
        {
            return false;
        }
        return Seq.InRange(seq, _rcvNxt, _rcvNxt + window) || Seq.InRange(seq + (uint)length - 1, _rcvNxt, _rcvNxt + window);
    }

    private void OnSegmentInSynSent(in TcpSegment segment, long now)
    {
        bool hasAck = segment.Has(TcpFlags.Ack);
        uint ack = segment.AcknowledgmentNumber;
        if (hasAck && (Seq.Le(ack, _iss) || Seq.Gt(ack, _sndNxt)))
        {
            if (!segment.Has(TcpFlags.Rst))
            {
                _stack.SendReset(RemoteAddress, RemotePort, LocalPort, ack, 0, TcpFlags.Rst);
            }
            return;
        }
        if (segment.Has(TcpFlags.Rst))
        {
            if (hasAck)
            {
                Fail(TcpError.ConnectionRefused, $"{RemoteEndPoint} refused the connection.");
            }
            return;
        }
        if (!segment.Has(TcpFlags.Syn))
        {
            return;
        }
        _irs = segment.SequenceNumber;
        _rcvNxt = _irs + 1;
        _rcvHeadSeq = _rcvNxt;
        _rcvAdvEdge = _rcvNxt;
        Negotiate(segment);
        if (hasAck)
        {
            _sndUna = ack;
            _sndWnd = segment.Window; // never scaled in a SYN (RFC 7323 §2.2)
            _maxSndWnd = _sndWnd;
            _sndWl1 = segment.SequenceNumber;
            _sndWl2 = ack;
            if (_retries == 0 && _timedAt >= 0)
            {
                SampleRtt(now - _timedAt);
            }
            _timedAt = -1;
            _retries = 0;
            _rtoAt = -1;
            _state = TcpState.Established;
            BecomeEstablished();
            SendAck();
            TrySend();
            return;
        }
        // Simultaneous open (§3.5, figure 8): answer with SYN-ACK from our own ISS.
        _state = TcpState.SynReceived;
        _sndWnd = segment.Window;
        SendSyn(ack: true);
    }

    /// <summary>Takes the peer's SYN options (RFC 7323, RFC 2018, RFC 9293 §3.7.1) and sizes the send MSS.</summary>
    private void Negotiate(in TcpSegment segment)
    {
        _wsOk = _options.WindowScaling && segment.WindowScale >= 0;
        _sndWScale = _wsOk ? segment.WindowScale : 0;
        _rcvWScale = _wsOk ? OwnWindowScale() : 0;
        _tsOk = _options.Timestamps && segment.HasTimestamp;
        _tsRecent = segment.TsVal;
        _sackOk = _options.Sack && segment.SackPermitted;
        _peerMss = segment.Mss == 0 ? 536 : segment.Mss; // RFC 9293 §3.7.1: 536 without the option
        _mss = SendMss(PathMtu);
        _cc = CreateCongestionControl(_mss);
    }

    private int OwnWindowScale()
    {
        int shift = 0;
        while (shift < 14 && (_receiveCapacity >> shift) > ushort.MaxValue)
        {
            shift++;
        }
        return shift;
    }

    private void BecomeEstablished()
    {
        if (_establishedOnce)
        {
            return;
        }
        _establishedOnce = true;
        NetStackLog.Established(_stack.Logger, LocalEndPoint, RemoteEndPoint);
        if (_listener is not null)
        {
            _stack.HalfOpenChanged(-1);
            _listener.HalfOpenDone(this, established: true);
        }
        _connected.TrySetResult();
    }

    private void ReceiveData(uint seq, ReadOnlySpan<byte> data)
    {
        if (Seq.Lt(seq, _rcvNxt))
        {
            int skip = (int)(_rcvNxt - seq);
            if (skip >= data.Length)
            {
                _ackNow = true; // a duplicate: acknowledge at once so the sender learns (RFC 5681 §4.2)
                return;
            }
            data = data[skip..];
            seq = _rcvNxt;
        }
        int offset = (int)(seq - _rcvHeadSeq);
        int room = _receiveCapacity - offset;
        if (room <= 0)
        {
            _ackNow = true;
            return;
        }
        if (data.Length > room)
        {
            data = data[..room];
        }
        if (seq == _rcvNxt)
        {
            _rcvBuf ??= ArrayPool<byte>.Shared.Rent(_receiveCapacity);
            RingWrite(_rcvBuf, _receiveCapacity, (_rcvHead + offset) % _receiveCapacity, data);
            _rcvNxt += (uint)data.Length;
            if (_oooCount > 0)
            {
                MergeOutOfOrder();
                _ackNow = true; // RFC 5681 §4.2: a segment that fills a hole is acknowledged at once
            }
            _bytesReceived += data.Length;
            _readable.Set();
            // Every second full segment is acknowledged at once (RFC 9293 §3.8.6.3); a super-packet from an offloading
            // device counts as the segments it holds, so it is acknowledged at once too, as Linux does after GRO.
            _unackedSegments += data.Length > _mss ? 2 : 1;
            if (_unackedSegments >= 2)
            {
                _ackNow = true;
            }
            return;
        }
        // Out of order: keep it in the ring at its offset, if the range list has room.
        if (!AddOutOfOrder(seq, seq + (uint)data.Length))
        {
            _ackNow = true;
            return;
        }
        _rcvBuf ??= ArrayPool<byte>.Shared.Rent(_receiveCapacity);
        RingWrite(_rcvBuf, _receiveCapacity, (_rcvHead + offset) % _receiveCapacity, data);
        _ackNow = true; // a duplicate ACK with SACK blocks at once (RFC 5681 §4.2, RFC 2018 §4)
    }

    private bool AddOutOfOrder(uint start, uint end)
    {
        _ooo ??= new (uint, uint)[_options.MaxOutOfOrderRanges];
        int i = 0;
        while (i < _oooCount && Seq.Lt(_ooo[i].End, start))
        {
            i++;
        }
        // i: first range that ends at or after start. Merge every range that touches [start, end).
        int j = i;
        while (j < _oooCount && Seq.Le(_ooo[j].Start, end))
        {
            start = Seq.Min(start, _ooo[j].Start);
            end = Seq.Max(end, _ooo[j].End);
            j++;
        }
        int merged = j - i;
        if (merged == 0)
        {
            if (_oooCount == _ooo.Length)
            {
                return false;
            }
            Array.Copy(_ooo, i, _ooo, i + 1, _oooCount - i);
            _oooCount++;
        }
        else if (merged > 1)
        {
            Array.Copy(_ooo, j, _ooo, i + 1, _oooCount - j);
            _oooCount -= merged - 1;
        }
        _ooo[i] = (start, end);
        _lastOoo = (start, end);
        return true;
    }

    private void MergeOutOfOrder()
    {
        int consumed = 0;
        while (consumed < _oooCount && Seq.Le(_ooo![consumed].Start, _rcvNxt))
        {
            uint end = _ooo[consumed].End;
            if (Seq.Gt(end, _rcvNxt))
            {
                _bytesReceived += end - _rcvNxt;
                _rcvNxt = end;
            }
            consumed++;
        }
        if (consumed > 0)
        {
            Array.Copy(_ooo!, consumed, _ooo!, 0, _oooCount - consumed);
            _oooCount -= consumed;
        }
        if (_pendingFin && _pendingFinSeq == _rcvNxt)
        {
            ReceiveFin();
        }
    }

    private void ReceiveFin()
    {
        _pendingFin = false;
        _finReceived = true;
        _rcvNxt++;
        _ackNow = true;
        _readable.Set();
        switch (_state)
        {
            case TcpState.Established:
                _state = TcpState.CloseWait;
                break;
            case TcpState.FinWait1:
                _state = TcpState.Closing; // our FIN is not acknowledged yet (simultaneous close, §3.6)
                break;
            case TcpState.FinWait2:
                EnterTimeWait();
                break;
            default:
                break;
        }
    }

    private void EnterTimeWait()
    {
        _state = TcpState.TimeWait;
        _rtoAt = _persistAt = _probeAt = -1;
        _timeWaitAt = _stack.NowMs + (long)_options.TimeWaitDuration.TotalMilliseconds;
        _sndLen = 0;
        ReleaseSendBufferIfEmpty();
        _writable.Set();
    }
}
