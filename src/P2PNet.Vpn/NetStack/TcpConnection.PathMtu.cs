using P2PNet.Vpn.Internal;
using P2PNet.Vpn.NetStack.Internal;

namespace P2PNet.Vpn.NetStack;

// ICMP errors about this connection's segments: path MTU discovery (RFC 1191 §6) and unreachable peers (RFC 5461).
public sealed partial class TcpConnection
{
    /// <summary>The smallest path MTU an ICMP error may set: a 512-byte segment plus both headers, as Linux's
    /// <c>min_pmtu</c>; a smaller claim is more likely an attack on throughput than a real link (RFC 5927 §4.2).</summary>
    internal const int MinPathMtu = 552;

    private int _peerMss = 536;
    private int _pathMtu;

    /// <summary>The MTU this connection sends for: the stack's, or the smaller one a router reported.</summary>
    private int PathMtu => _pathMtu > 0 ? _pathMtu : _options.Mtu;

    /// <summary>The send MSS for <paramref name="pathMtu"/>: the peer's MSS bounded by the path, less the timestamp option.</summary>
    private int SendMss(int pathMtu) => Math.Max(Math.Min(_peerMss, pathMtu - 40) - (_tsOk ? 12 : 0), 64);

    /// <summary>A router could not forward a segment of ours without fragmenting it (ICMP type 3 code 4). Only an error
    /// quoting a sequence number between SND.UNA and SND.MAX is believed (RFC 5927 §4.1). The MSS drops to what the
    /// path carries and everything unacknowledged goes again at once at the new size, without shrinking the congestion
    /// window: the segments were too big, not the load (RFC 1191 §6.5; Linux's "simple retransmit").</summary>
    internal void OnPacketTooBig(uint sequence, int mtu, long now)
    {
        if (_state is not (TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.Closing or TcpState.LastAck)
            || Seq.Lt(sequence, _sndUna) || Seq.Ge(sequence, _sndMax))
        {
            _stack.CountDrop(DropReason.IcmpIgnored);
            return;
        }
        int pathMtu = Math.Clamp(mtu, MinPathMtu, _options.Mtu);
        int mss = SendMss(pathMtu);
        if (mss >= _mss)
        {
            return; // no smaller than what we already send with: a stale or duplicate report
        }
        _pathMtu = pathMtu;
        _mss = mss;
        _cc.Mss = mss;
        if (_inRecovery)
        {
            _inRecovery = false;
            _cc.OnRecoveryEnd(_sndNxt - _sndUna);
        }
        _rexmitCount = 0;
        _rackAt = -1;
        _probeAt = -1;
        _dupAcks = 0;
        _timedAt = -1; // Karn: what goes again gives no RTT sample
        _sndNxt = _sndUna;
        TrySend();
        if (_rtoAt < 0)
        {
            ArmRto(now);
        }
    }

    /// <summary>ICMP protocol or port unreachable. A hard error only while connecting (RFC 5461 §4, and what Linux does):
    /// the SYN (SEG.SEQ = ISS) found nothing listening, so the connection is refused now rather than after its SYN
    /// retransmissions time out. On a synchronized connection it is ignored: the peer answered before, and a forged
    /// error must not be able to tear the connection down (RFC 5927 §4).</summary>
    internal void OnUnreachable(uint sequence)
    {
        if (_state == TcpState.SynSent && sequence == _iss)
        {
            Fail(TcpError.ConnectionRefused, $"{RemoteEndPoint} is unreachable (ICMP port or protocol unreachable).");
        }
        else
        {
            _stack.CountDrop(DropReason.IcmpIgnored);
        }
    }
}
