using P2PNet.Vpn.NetStack.Internal;

namespace P2PNet.Vpn.NetStack;

// Timers: retransmission (RFC 6298), delayed ACK, persist, keep-alive, TIME_WAIT. The stack ticks every connection.
public sealed partial class TcpConnection
{
    private long _rtoAt = -1;
    private long _delAckAt = -1;
    private long _persistAt = -1;
    private long _timeWaitAt = -1;
    private int _retries;
    private int _persistBackoff;
    private int _keepAliveProbes;
    private double _srttMs;
    private double _rttvarMs;
    private double _rtoMs;
    private bool _hasRtt;
    private uint _timedSeq;
    private long _timedAt = -1;
    private long _probeAt = -1;
    private long _rackAt = -1;
    private int _probesSent;

    // Two probes per episode, the second after twice the first's wait: one lost probe (or its lost ACK) at 1% loss
    // otherwise costs a 200 ms RTO every couple of hundred recoveries, a third of a fast transfer's time.
    private const int MaxProbesPerEpisode = 2;

    private void ArmRto(long now)
    {
        _rtoAt = now + (long)_rtoMs;
        // Tail loss probe (RFC 8985 §7.2), so a lost tail is found by SACK and fast recovery instead of waiting out the
        // RTO. Also in recovery (unlike RFC 8985): when a retransmission is lost and the window has no room for new data,
        // nothing else draws an ACK, and the probe resends the first hole in milliseconds rather than at the RTO.
        // At most MaxProbesPerEpisode probes: after those or a timeout, none until an ACK advances SND.UNA.
        if (_sackOk && _hasRtt && _probesSent < MaxProbesPerEpisode && _state is not (TcpState.SynSent or TcpState.SynReceived))
        {
            ArmProbe(now, ProbeTimeout());
        }
        else
        {
            _probeAt = -1;
        }
    }

    /// <summary>PTO: with more than a segment in flight 2 × SRTT + 2 ms (as Linux), so on a sub-millisecond path a lost
    /// tail costs milliseconds, not a 10 ms tick; a lone segment waits max(2 × SRTT, 10 ms), as the peer may be delaying
    /// its ACK.</summary>
    private long ProbeTimeout() =>
        _sndMax - _sndUna > (uint)_mss ? (long)Math.Ceiling(2 * _srttMs) + 2 : (long)Math.Max(2 * _srttMs, 10);

    private void ArmProbe(long now, long timeout)
    {
        long pto = now + timeout;
        _probeAt = pto < _rtoAt ? pto : -1;
        if (_probeAt >= 0)
        {
            _stack.TimerArmed(_probeAt);
        }
    }

    private void OnProbeTimeout(long now)
    {
        _probeAt = -1;
        _probesSent++;
        if (_sndUna == _sndMax || _state is TcpState.SynSent or TcpState.SynReceived or TcpState.TimeWait)
        {
            return;
        }
        _tailLossProbes++;
        if (_inRecovery)
        {
            int untilSacked = UntilNextSacked(_sndUna);
            int length = (int)Math.Min(Math.Min((uint)_mss, DataEnd - _sndUna), untilSacked > 0 ? (uint)untilSacked : (uint)_mss);
            if (Seq.Lt(_sndUna, DataEnd) && length > 0)
            {
                SendData(_sndUna, TcpFlags.Ack, length);
                CountRetransmit();
                _rtoAt = now + (long)_rtoMs;
                ArmNextProbe(now);
            }
            return;
        }
        uint dataEnd = DataEnd;
        long windowRoom = _sndWnd - (long)(_sndNxt - _sndUna);
        if (Seq.Gt(dataEnd, _sndNxt) && windowRoom > 0 && _sndNxt == _sndMax)
        {
            // New data makes the best probe (RFC 8985 §7.3).
            int length = (int)Math.Min(Math.Min(dataEnd - _sndNxt, (uint)_mss), windowRoom);
            bool fin = _finQueued && _sndNxt + (uint)length == dataEnd;
            SendData(_sndNxt, TcpFlags.Ack | TcpFlags.Psh | (fin ? TcpFlags.Fin : TcpFlags.None), length);
            _sndNxt += (uint)length + (fin ? 1u : 0u);
            _sndMax = Seq.Max(_sndMax, _sndNxt);
        }
        else if (Seq.Gt(_sndMax, dataEnd))
        {
            SendData(dataEnd, TcpFlags.Ack | TcpFlags.Fin, 0); // the FIN is the tail
            CountRetransmit();
        }
        else
        {
            uint start = Seq.Max(_sndUna, _sndMax - (uint)_mss);
            SendData(start, TcpFlags.Ack | TcpFlags.Psh, (int)(_sndMax - start));
            CountRetransmit();
        }
        _rtoAt = now + (long)_rtoMs;
        ArmNextProbe(now);
    }

    private void ArmNextProbe(long now)
    {
        if (_probesSent < MaxProbesPerEpisode)
        {
            ArmProbe(now, 2 * ProbeTimeout() * _probesSent);
        }
    }

    /// <summary>RFC 6298 §2.2–2.4 with G = the timer interval.</summary>
    private void SampleRtt(double sampleMs)
    {
        sampleMs = Math.Max(sampleMs, 0.1);
        if (!_hasRtt)
        {
            _srttMs = sampleMs;
            _rttvarMs = sampleMs / 2;
            _hasRtt = true;
        }
        else
        {
            _rttvarMs = (0.75 * _rttvarMs) + (0.25 * Math.Abs(_srttMs - sampleMs));
            _srttMs = (0.875 * _srttMs) + (0.125 * sampleMs);
        }
        double rto = _srttMs + Math.Max(_options.TimerInterval.TotalMilliseconds, 4 * _rttvarMs);
        _rtoMs = Math.Clamp(rto, _options.MinRetransmissionTimeout.TotalMilliseconds, _options.MaxRetransmissionTimeout.TotalMilliseconds);
        _stack.Metrics.Rtt(sampleMs);
    }

    /// <summary>The earliest armed timer (ms on the stack's clock), or −1; keep-alive is left to the regular tick.</summary>
    internal long NextDeadline
    {
        get
        {
            long next = -1;
            foreach (long due in (ReadOnlySpan<long>)[_rtoAt, _probeAt, _rackAt, _delAckAt, _persistAt, _timeWaitAt])
            {
                if (due >= 0 && (next < 0 || due < next))
                {
                    next = due;
                }
            }
            return next;
        }
    }

    /// <summary>RFC 8985's reordering window in spirit: a hole below SACKed data that DupThresh has not declared lost
    /// is declared lost a quarter of an RTT (at least 1 ms) after it was first seen, rather than at the probe or the RTO.</summary>
    private void ArmReorderTimer(long now)
    {
        if (_rackAt < 0)
        {
            _rackAt = now + Math.Max((long)Math.Ceiling(_srttMs / 4), 1);
            _stack.TimerArmed(_rackAt);
        }
    }

    internal void OnTimer(long now)
    {
        if (_state == TcpState.Closed)
        {
            _stack.RemoveConnection(this);
            return;
        }
        if (_timeWaitAt >= 0 && now >= _timeWaitAt)
        {
            Terminate();
            return;
        }
        if (_delAckAt >= 0 && now >= _delAckAt)
        {
            SendAck();
        }
        if (_rtoAt >= 0 && now >= _rtoAt)
        {
            OnRetransmissionTimeout(now);
            if (_state == TcpState.Closed)
            {
                return;
            }
        }
        if (_rackAt >= 0 && now >= _rackAt)
        {
            _rackAt = -1;
            if (!_inRecovery && _sackedCount > 0 && Seq.Gt(_sndMax, _sndUna)
                && _state is TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.Closing or TcpState.LastAck)
            {
                EnterRecovery(now);
            }
        }
        if (_probeAt >= 0 && now >= _probeAt)
        {
            OnProbeTimeout(now);
        }
        if (_persistAt >= 0 && now >= _persistAt)
        {
            OnPersist(now);
        }
        if (_options.KeepAliveIdle is { } idle && _state is TcpState.Established or TcpState.CloseWait)
        {
            long due = _lastReceivedAt + (long)idle.TotalMilliseconds + (_keepAliveProbes * (long)_options.KeepAliveInterval.TotalMilliseconds);
            if (now >= due)
            {
                if (_keepAliveProbes >= _options.KeepAliveProbes)
                {
                    Fail(TcpError.TimedOut, "The peer stopped answering keep-alive probes.");
                    return;
                }
                _keepAliveProbes++;
                // RFC 9293 §3.8.4: a segment with SEG.SEQ = SND.NXT − 1 draws an ACK from a live peer.
                SendData(_sndUna - 1, TcpFlags.Ack, 0);
            }
        }
    }

    private void OnRetransmissionTimeout(long now)
    {
        _retries++;
        _timeouts++;
        _probesSent = MaxProbesPerEpisode;
        _probeAt = -1;
        bool handshake = _state is TcpState.SynSent or TcpState.SynReceived;
        int limit = handshake ? _options.MaxSynRetransmissions : _options.MaxRetransmissions;
        if (_retries > limit)
        {
            if (_state == TcpState.SynReceived && _listener is not null && !_establishedOnce)
            {
                Terminate(); // a half-open connection that never completes just goes away
            }
            else
            {
                Fail(TcpError.TimedOut, $"{RemoteEndPoint} stopped acknowledging ({_retries - 1} retransmissions).");
            }
            return;
        }
        // RFC 6298 §5.5: back off.
        _rtoMs = Math.Min(_rtoMs * 2, _options.MaxRetransmissionTimeout.TotalMilliseconds);
        _timedAt = -1; // Karn's rule: a resent segment gives no sample
        if (handshake)
        {
            CountRetransmit();
            SendSyn(ack: _state == TcpState.SynReceived);
            ArmRto(now);
            return;
        }
        if (_sndUna == _sndMax)
        {
            _rtoAt = -1;
            return;
        }
        // RFC 5681 §3.1 eq. 4, RFC 6582 §4: after a timeout, resend from SND.UNA with a one-segment window. The SACK
        // scoreboard survives one timeout (as in Linux), so what the peer holds is not sent again; a second timeout in a
        // row drops it (RFC 2018 §8: the peer may have reneged, and then everything must go again).
        if (_retries > 1)
        {
            _sackedCount = 0;
            _sackedBytes = 0;
        }
        _cc.OnTimeout(_sndNxt - _sndUna, now);
        _inRecovery = false;
        _rexmitCount = 0;
        _rackAt = -1;
        _dupAcks = 0;
        _sndNxt = _sndUna;
        _rtoAt = -1;
        TrySend();
        if (_rtoAt < 0)
        {
            ArmRto(now);
        }
    }

    private void OnPersist(long now)
    {
        if (_sndWnd > 0 || !Seq.Gt(DataEnd, _sndNxt))
        {
            _persistAt = -1;
            return;
        }
        // A zero-length probe below SND.UNA draws an ACK that carries the peer's current window (as Linux probes).
        SendData(_sndUna - 1, TcpFlags.Ack, 0);
        _persistBackoff = Math.Min(_persistBackoff + 1, 10);
        double interval = Math.Min(_rtoMs * (1 << _persistBackoff), 60_000);
        _persistAt = now + (long)interval;
    }
}
