using P2PNet.Logging;
using P2PNet.Testing;

namespace P2PNet.Core.Tests.Resources;

public sealed class LogRateLimiterTests
{
    [Fact]
    public void TryAcquire_AllowsNLinesPerInterval_ThenReportsHowManyWereSuppressed()
    {
        var time = new ManualTimeProvider();
        var limiter = new LogRateLimiter(3, TimeSpan.FromSeconds(10), time);
        for (int i = 0; i < 3; i++)
        {
            Assert.True(limiter.TryAcquire("a", out long none));
            Assert.Equal(0, none);
        }

        for (int i = 0; i < 5; i++)
        {
            Assert.False(limiter.TryAcquire("a", out _));
        }

        Assert.True(limiter.TryAcquire("b", out _)); // categories are independent
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.True(limiter.TryAcquire("a", out long suppressed));
        Assert.Equal(5, suppressed);
        Assert.True(limiter.TryAcquire("a", out long again));
        Assert.Equal(0, again);
    }

    [Fact]
    public void TryAcquire_UnderAFlood_WritesAtMostTheBoundPerInterval()
    {
        var time = new ManualTimeProvider();
        var limiter = new LogRateLimiter(5, TimeSpan.FromSeconds(1), time);
        int written = 0;
        long reported = 0;
        for (int second = 0; second < 10; second++)
        {
            for (int i = 0; i < 1000; i++)
            {
                if (limiter.TryAcquire("flood", out long suppressed))
                {
                    written++;
                    reported += suppressed;
                }
            }

            time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.Equal(50, written);
        Assert.Equal(10_000, written + reported + limiter.PendingSuppressed("flood"));
    }
}
