namespace P2PNet.Proxy.Inbound.Internal;

/// <summary>
/// Bytes in and out of one scope (a connection, an activity, a VPN, the whole proxy) and the rates the inbound-proxy
/// design asks for: maximum, average over the scope's life, and current over a short window. Counting is lock-free;
/// the rates come from samples the proxy's sampler takes a few times per window (<see cref="Sample"/>), so a meter
/// costs no timer of its own.
/// </summary>
/// <remarks>"In" is from public clients towards the service; "out" from the service to public clients.</remarks>
internal sealed class BandwidthMeter
{
    /// <summary>Samples kept: the current rate is measured over the span from the oldest to now.</summary>
    private const int Samples = 5;

    private readonly BandwidthMeter[] _parents;
    private readonly TimeProvider _time;
    private readonly long _created;
    private readonly (long Timestamp, long In, long Out)[] _ring = new (long, long, long)[Samples];
    private readonly Lock _sampling = new();
    private long _in;
    private long _out;
    private int _next;
    private int _count;
    private double _maxIn;
    private double _maxOut;

    public BandwidthMeter(TimeProvider time, params BandwidthMeter[] parents)
    {
        _time = time;
        _parents = parents;
        _created = time.GetTimestamp();
    }

    public long BytesIn => Interlocked.Read(ref _in);

    public long BytesOut => Interlocked.Read(ref _out);

    public void AddIn(int bytes)
    {
        Interlocked.Add(ref _in, bytes);
        foreach (var parent in _parents)
        {
            parent.AddIn(bytes);
        }
    }

    public void AddOut(int bytes)
    {
        Interlocked.Add(ref _out, bytes);
        foreach (var parent in _parents)
        {
            parent.AddOut(bytes);
        }
    }

    /// <summary>Records the totals now and raises the maxima with the current rates.</summary>
    public void Sample()
    {
        lock (_sampling)
        {
            long now = _time.GetTimestamp();
            var (rateIn, rateOut) = CurrentLocked(now);
            _maxIn = Math.Max(_maxIn, rateIn);
            _maxOut = Math.Max(_maxOut, rateOut);
            _ring[_next] = (now, BytesIn, BytesOut);
            _next = (_next + 1) % Samples;
            _count = Math.Min(_count + 1, Samples);
        }
    }

    public InboundBandwidth Snapshot()
    {
        lock (_sampling)
        {
            long now = _time.GetTimestamp();
            long bytesIn = BytesIn;
            long bytesOut = BytesOut;
            double life = Math.Max((now - _created) / (double)_time.TimestampFrequency, 1e-3);
            var (currentIn, currentOut) = CurrentLocked(now);
            return new InboundBandwidth(bytesIn, bytesOut,
                new InboundRate(Math.Max(_maxIn, currentIn), bytesIn / life, currentIn),
                new InboundRate(Math.Max(_maxOut, currentOut), bytesOut / life, currentOut));
        }
    }

    /// <summary>Bytes per second from the oldest sample kept (or the meter's creation) to now.</summary>
    private (double In, double Out) CurrentLocked(long now)
    {
        var (since, fromIn, fromOut) = _count == 0 ? (_created, 0L, 0L) : _ring[_count < Samples ? 0 : _next];
        double seconds = (now - since) / (double)_time.TimestampFrequency;
        if (seconds <= 0)
        {
            return (0, 0);
        }
        // A meter younger than a quarter second has no meaningful rate yet: a few bytes would read as a huge one.
        seconds = Math.Max(seconds, 0.25);
        return ((BytesIn - fromIn) / seconds, (BytesOut - fromOut) / seconds);
    }
}
