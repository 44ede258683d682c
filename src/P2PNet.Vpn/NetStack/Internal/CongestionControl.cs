namespace P2PNet.Vpn.NetStack.Internal;

/// <summary>A sender's congestion controller: owns cwnd and ssthresh (bytes). Loss recovery (which segment to resend)
/// is the connection's; the controller only sizes the window.</summary>
internal abstract class CongestionControl
{
    protected CongestionControl(int mss, int initialWindowSegments)
    {
        Mss = mss;
        Cwnd = Math.Min(initialWindowSegments * mss, Math.Max(2 * mss, 14600)); // RFC 6928 IW10 bounded as RFC 5681
        Ssthresh = int.MaxValue;
    }

    public int Mss { get; set; }

    public long Cwnd { get; protected set; }

    public long Ssthresh { get; protected set; }

    /// <summary>New data acknowledged outside recovery.</summary>
    public abstract void OnAck(int ackedBytes, long flightBeforeAck, long nowMs, double srttMs);

    /// <summary>Fast retransmit: loss seen by duplicate ACKs or SACK (RFC 5681 §3.2 step 2).</summary>
    public abstract void OnFastLoss(long flight, long nowMs);

    /// <summary>Recovery ended with a full ACK (RFC 6582 §3.2 step 3, second option: cwnd = ssthresh, as Linux ends its
    /// reduction). The first option, min(ssthresh, FlightSize + SMSS), leaves one segment when the full ACK empties the
    /// pipe, and a peer delays its ACK of a lone segment: on a fast path every recovery then cost a delayed-ACK wait.</summary>
    public virtual void OnRecoveryEnd(long flight) => Cwnd = Math.Max(Ssthresh, 2L * Mss);

    /// <summary>Retransmission timeout (RFC 5681 §3.1 eq. 4, loss window of one segment).</summary>
    public virtual void OnTimeout(long flight, long nowMs)
    {
        Ssthresh = Math.Max(flight / 2, 2L * Mss);
        Cwnd = Mss;
    }

    /// <summary>During NewReno recovery without SACK: window inflation per duplicate ACK (RFC 6582 §3.2 step 4).</summary>
    public void Inflate(long bytes) => Cwnd += bytes;

    /// <summary>Partial ACK deflation (RFC 6582 §3.2 step 5).</summary>
    public void Deflate(long ackedBytes) => Cwnd = Math.Max(Cwnd - ackedBytes + Mss, Mss);

    /// <summary>Sets cwnd to ssthresh (+ <paramref name="extra"/>) on entering recovery.</summary>
    public void EnterRecovery(long extra) => Cwnd = Ssthresh + extra;
}

/// <summary>NewReno (RFC 5681 slow start and congestion avoidance, RFC 6582 recovery).</summary>
internal sealed class NewRenoCongestionControl(int mss, int initialWindow) : CongestionControl(mss, initialWindow)
{
    private long _avoidanceCredit;

    public override void OnAck(int ackedBytes, long flightBeforeAck, long nowMs, double srttMs)
    {
        if (Cwnd < Ssthresh)
        {
            Cwnd += Math.Min(ackedBytes, Mss); // RFC 5681 eq. 2 (L = 1 SMSS)
            return;
        }
        // RFC 5681 §3.1: about one SMSS per RTT, counted in acknowledged bytes.
        _avoidanceCredit += ackedBytes;
        if (_avoidanceCredit >= Cwnd)
        {
            _avoidanceCredit -= Cwnd;
            Cwnd += Mss;
        }
    }

    public override void OnFastLoss(long flight, long nowMs) => Ssthresh = Math.Max(flight / 2, 2L * Mss);
}

/// <summary>CUBIC (RFC 9438): window growth as a cubic function of the time since the last reduction, with the
/// Reno-friendly estimate (§4.3) as a floor; β = 0.7, C = 0.4, fast convergence (§4.7).</summary>
internal sealed class CubicCongestionControl(int mss, int initialWindow) : CongestionControl(mss, initialWindow)
{
    private const double Beta = 0.7;
    private const double C = 0.4;
    private const double AlphaCubic = 3 * (1 - Beta) / (1 + Beta); // RFC 9438 §4.3

    private double _wMaxSegments;
    private double _k;
    private long _epochStartMs = -1;
    private double _wEstSegments;
    private double _cwndSegmentsAtEpoch;

    public override void OnAck(int ackedBytes, long flightBeforeAck, long nowMs, double srttMs)
    {
        if (Cwnd < Ssthresh)
        {
            Cwnd += Math.Min(ackedBytes, Mss);
            return;
        }
        if (_epochStartMs < 0)
        {
            // §4.8: an epoch starts at the first ACK of congestion avoidance; without a loss yet, W_max is the current window.
            _epochStartMs = nowMs;
            _cwndSegmentsAtEpoch = (double)Cwnd / Mss;
            if (_wMaxSegments < _cwndSegmentsAtEpoch)
            {
                _wMaxSegments = _cwndSegmentsAtEpoch;
                _k = 0;
            }
            else
            {
                _k = Math.Cbrt((_wMaxSegments - _cwndSegmentsAtEpoch) / C);
            }
            _wEstSegments = _cwndSegmentsAtEpoch;
        }
        double t = ((nowMs - _epochStartMs) + srttMs) / 1000.0; // §4.2: target one RTT ahead
        double target = (C * Math.Pow(t - _k, 3)) + _wMaxSegments;
        double cwndSegments = (double)Cwnd / Mss;
        // §4.3: the Reno-friendly window grows by α_cubic segments per window of acknowledged data.
        _wEstSegments += AlphaCubic * ackedBytes / Cwnd;
        if (_wEstSegments > target)
        {
            target = _wEstSegments;
        }
        // §4.4/4.5: at most 1.5x per RTT; grow by (target - cwnd)/cwnd segments per acknowledged segment.
        target = Math.Min(target, cwndSegments * 1.5);
        if (target > cwndSegments)
        {
            double increment = (target - cwndSegments) / cwndSegments * ((double)ackedBytes / Mss);
            Cwnd += Math.Max(1, (long)(increment * Mss));
        }
    }

    public override void OnFastLoss(long flight, long nowMs)
    {
        double cwndSegments = (double)Cwnd / Mss;
        // §4.7 fast convergence: a flow whose W_max shrinks releases bandwidth sooner.
        _wMaxSegments = cwndSegments < _wMaxSegments ? cwndSegments * (1 + Beta) / 2 : cwndSegments;
        Ssthresh = Math.Max((long)(Cwnd * Beta), 2L * Mss);
        _k = Math.Cbrt(_wMaxSegments * (1 - Beta) / C);
        _epochStartMs = -1;
    }

    public override void OnTimeout(long flight, long nowMs)
    {
        OnFastLoss(flight, nowMs);
        Cwnd = Mss;
    }
}
