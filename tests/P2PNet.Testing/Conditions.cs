namespace P2PNet.Testing;

/// <summary>
/// Waits on conditions instead of fixed sleeps: a test says what it waits for and how long it may take, and a
/// timeout fails with that message. Polls with a short back-off (1 ms growing to 50 ms), so a condition that becomes
/// true is seen quickly on an idle machine while a loaded one only makes the wait longer, never the test wrong.
/// </summary>
public static class Conditions
{
    private static readonly TimeSpan MaxPollInterval = TimeSpan.FromMilliseconds(50);

    /// <summary>Returns once <paramref name="condition"/> is true; throws <see cref="TimeoutException"/> carrying
    /// <paramref name="message"/> when it is still false after <paramref name="timeout"/>.</summary>
    /// <param name="condition">Checked at once, then after each poll interval.</param>
    /// <param name="timeout">How long it may take; be generous (the machine may be loaded).</param>
    /// <param name="message">What was awaited, for the failure message.</param>
    /// <param name="cancellationToken">Stops waiting (throws <see cref="OperationCanceledException"/>).</param>
    public static Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(condition);
        return WaitUntilAsync(_ => ValueTask.FromResult(condition()), timeout, message, cancellationToken);
    }

    /// <summary>Returns once <paramref name="condition"/> is true; throws <see cref="TimeoutException"/> with the message
    /// <paramref name="describe"/> gives at that moment (the state it found) when it is still false after <paramref name="timeout"/>.</summary>
    /// <param name="condition">Checked at once, then after each poll interval.</param>
    /// <param name="timeout">How long it may take; be generous (the machine may be loaded).</param>
    /// <param name="describe">Says what was awaited and what was found instead, for the failure message.</param>
    /// <param name="cancellationToken">Stops waiting (throws <see cref="OperationCanceledException"/>).</param>
    public static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, Func<string> describe, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(condition);
        ArgumentNullException.ThrowIfNull(describe);
        try
        {
            await WaitUntilAsync(_ => ValueTask.FromResult(condition()), timeout, "", cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{describe()} (after {timeout})", ex);
        }
    }

    /// <summary>Returns once the asynchronous <paramref name="condition"/> is true; throws <see cref="TimeoutException"/>
    /// carrying <paramref name="message"/> when it is still false after <paramref name="timeout"/>. The condition gets a
    /// token that fires at the deadline.</summary>
    /// <param name="condition">Checked at once, then after each poll interval.</param>
    /// <param name="timeout">How long it may take; be generous (the machine may be loaded).</param>
    /// <param name="message">What was awaited, for the failure message.</param>
    /// <param name="cancellationToken">Stops waiting (throws <see cref="OperationCanceledException"/>).</param>
    public static async Task WaitUntilAsync(Func<CancellationToken, ValueTask<bool>> condition, TimeSpan timeout, string message,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(condition);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        var interval = TimeSpan.FromMilliseconds(1);
        try
        {
            while (!await condition(deadline.Token).ConfigureAwait(false))
            {
                await Task.Delay(interval, deadline.Token).ConfigureAwait(false);
                interval = TimeSpan.FromTicks(Math.Min(interval.Ticks * 2, MaxPollInterval.Ticks));
            }
        }
        catch (OperationCanceledException ex) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"{message} (still not so after {timeout})", ex);
        }
    }
}
