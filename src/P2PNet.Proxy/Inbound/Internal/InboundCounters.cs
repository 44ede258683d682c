namespace P2PNet.Proxy.Inbound.Internal;

/// <summary>A forwarder's totals, updated from every connection's loops at once.</summary>
internal sealed class InboundCounters
{
    private long _accepted;
    private long _refused;
    private long _failed;
    private long _rateLimited;
    private long _toTarget;
    private long _fromTarget;

    public long Accepted => Interlocked.Read(ref _accepted);

    public long Refused => Interlocked.Read(ref _refused);

    public long Failed => Interlocked.Read(ref _failed);

    public long RateLimited => Interlocked.Read(ref _rateLimited);

    public long ToTarget => Interlocked.Read(ref _toTarget);

    public long FromTarget => Interlocked.Read(ref _fromTarget);

    public void CountAccepted() => Interlocked.Increment(ref _accepted);

    public void CountRefused() => Interlocked.Increment(ref _refused);

    public void CountFailed() => Interlocked.Increment(ref _failed);

    public void CountRateLimited() => Interlocked.Increment(ref _rateLimited);

    public void AddToTarget(int bytes) => Interlocked.Add(ref _toTarget, bytes);

    public void AddFromTarget(int bytes) => Interlocked.Add(ref _fromTarget, bytes);
}
