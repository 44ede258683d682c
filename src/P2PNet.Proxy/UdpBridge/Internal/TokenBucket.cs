using System.Diagnostics;

namespace P2PNet.Proxy.UdpBridge.Internal;

/// <summary>
/// A token bucket holding at most one second's worth of tokens: <c>rate</c> tokens refill per second and a burst of up
/// to <c>rate</c> tokens may be spent at once. A rate of zero means unlimited.
/// </summary>
/// <remarks>
/// A mutable struct kept as a field of its owner and used from one loop only (not thread-safe), so a client costs
/// 16 bytes per bucket and a check costs a timestamp read.
/// </remarks>
internal struct TokenBucket
{
    private double _tokens;
    private long _lastRefill;

    /// <summary>Creates a full bucket.</summary>
    public TokenBucket(long startTimestamp, int rate)
    {
        _tokens = rate;
        _lastRefill = startTimestamp;
    }

    /// <summary>Adds the tokens earned since the last refill, up to the capacity.</summary>
    /// <param name="rate">Tokens refilled per second, also the capacity; zero means unlimited.</param>
    /// <param name="now">The current timestamp from the bridge's <see cref="TimeProvider"/>.</param>
    /// <param name="timestampFrequency">Timestamp ticks per second.</param>
    public void Refill(int rate, long now, long timestampFrequency)
    {
        Debug.Assert(timestampFrequency > 0);
        long elapsed = now - _lastRefill;
        if (rate > 0 && elapsed > 0)
        {
            _tokens = Math.Min(rate, _tokens + (double)elapsed * rate / timestampFrequency);
            _lastRefill = now;
        }
    }

    /// <summary>Whether the bucket holds <paramref name="cost"/> tokens (always, when <paramref name="rate"/> is zero).</summary>
    public readonly bool Has(int cost, int rate) => rate <= 0 || _tokens >= cost;

    /// <summary>Spends <paramref name="cost"/> tokens; call after <see cref="Has"/> said yes.</summary>
    public void Take(int cost, int rate)
    {
        if (rate > 0)
        {
            _tokens -= cost;
        }
    }

    /// <summary>Refills, then takes <paramref name="cost"/> tokens if the bucket holds them.</summary>
    /// <returns><see langword="true"/> if the event may pass.</returns>
    public bool TryTake(int cost, int rate, long now, long timestampFrequency)
    {
        Refill(rate, now, timestampFrequency);
        if (!Has(cost, rate))
        {
            return false;
        }

        Take(cost, rate);
        return true;
    }
}
