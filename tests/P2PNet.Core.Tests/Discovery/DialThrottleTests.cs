using P2PNet.Discovery.Internal;
using P2PNet.Testing;

namespace P2PNet.Core.Tests.Discovery;

public sealed class DialThrottleTests
{
    [Fact]
    public void TryStart_RefusesBeyondTheConcurrencyCap_UntilADialCompletes()
    {
        var throttle = new DialThrottle(maxConcurrent: 2, maxPerInterval: 100, TimeSpan.FromSeconds(10), new ManualTimeProvider());
        Assert.True(throttle.TryStart());
        Assert.True(throttle.TryStart());
        Assert.False(throttle.TryStart());
        throttle.Complete();
        Assert.True(throttle.TryStart());
        Assert.Equal(2, throttle.InFlight);
    }

    [Fact]
    public void TryStart_RefusesBeyondTheRate_UntilTheIntervalPasses()
    {
        var time = new ManualTimeProvider();
        var throttle = new DialThrottle(maxConcurrent: 100, maxPerInterval: 3, TimeSpan.FromSeconds(10), time);
        for (int i = 0; i < 3; i++)
        {
            Assert.True(throttle.TryStart());
            throttle.Complete();
        }

        Assert.False(throttle.TryStart());
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.True(throttle.TryStart());
    }
}
