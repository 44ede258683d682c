using P2PNet.Testing;

namespace P2PNet.Core.Tests.TestKit;

/// <summary>The test kit's wait-for-a-condition helper that replaces fixed sleeps.</summary>
public sealed class ConditionsTests
{
    [Fact]
    public async Task WaitUntil_ReturnsOnceTheConditionHolds()
    {
        int checks = 0;
        await Conditions.WaitUntilAsync(() => ++checks >= 5, TimeSpan.FromSeconds(30), "five checks").WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(5, checks);
    }

    [Fact]
    public async Task WaitUntil_WhenTheConditionNeverHolds_TimesOutWithTheMessage()
    {
        var error = await Assert.ThrowsAsync<TimeoutException>(() =>
            Conditions.WaitUntilAsync(() => false, TimeSpan.FromMilliseconds(200), "the moon turned blue").WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("the moon turned blue", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WaitUntil_DescribesTheStateItFoundAtTheTimeout()
    {
        int value = 41;
        var error = await Assert.ThrowsAsync<TimeoutException>(() =>
            Conditions.WaitUntilAsync(() => value == 42, TimeSpan.FromMilliseconds(200), () => $"value is {value}").WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("value is 41", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WaitUntil_WhenTheCallerCancels_ThrowsOperationCanceled_NotTimeout()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            Conditions.WaitUntilAsync(() => false, TimeSpan.FromSeconds(30), "never", cancel.Token).WaitAsync(TimeSpan.FromSeconds(30)));
    }
}
