using P2PNet.Proxy.UdpBridge.Internal;

namespace P2PNet.Proxy.Tests.UdpBridge;

/// <summary>The token bucket, driven by explicit timestamps (frequency 1,000 ticks a second).</summary>
public sealed class TokenBucketTests
{
    private const long Frequency = 1000;

    [Fact]
    public void FullBucket_PassesOneSecondsWorth_ThenRefuses()
    {
        var bucket = new TokenBucket(0, 10);

        for (int i = 0; i < 10; i++)
        {
            Assert.True(bucket.TryTake(1, 10, 0, Frequency));
        }

        Assert.False(bucket.TryTake(1, 10, 0, Frequency));
    }

    [Fact]
    public void Refill_IsProportionalToElapsedTime_AndCapped()
    {
        var bucket = new TokenBucket(0, 10);
        for (int i = 0; i < 10; i++)
        {
            bucket.TryTake(1, 10, 0, Frequency);
        }

        Assert.False(bucket.TryTake(1, 10, 50, Frequency));  // half a token after 50 ms
        Assert.True(bucket.TryTake(1, 10, 100, Frequency));  // one token after 100 ms
        Assert.False(bucket.TryTake(1, 10, 100, Frequency));

        // An hour later the bucket holds one second's worth, not 36,000 tokens.
        for (int i = 0; i < 10; i++)
        {
            Assert.True(bucket.TryTake(1, 10, 3_600_000, Frequency));
        }

        Assert.False(bucket.TryTake(1, 10, 3_600_000, Frequency));
    }

    [Fact]
    public void RateZero_IsUnlimited()
    {
        var bucket = new TokenBucket(0, 0);

        for (int i = 0; i < 100_000; i++)
        {
            Assert.True(bucket.TryTake(1500, 0, 0, Frequency));
        }
    }

    [Fact]
    public void CostLargerThanRemaining_IsRefused_AndCostsNothing()
    {
        var bucket = new TokenBucket(0, 1000);

        Assert.True(bucket.TryTake(600, 1000, 0, Frequency));
        Assert.False(bucket.TryTake(600, 1000, 0, Frequency));
        Assert.True(bucket.TryTake(400, 1000, 0, Frequency));
    }
}
