using P2PNet.Muxing.Yamux;

namespace P2PNet.Core.Tests.Muxing;

/// <summary>
/// The reader scheduler of a LowLatency session's stream pipes: inside <see cref="DeferredInlineScheduler.Enter"/>/
/// <see cref="DeferredInlineScheduler.Exit"/> readers are held and resumed by the outermost exit, on its thread and in
/// order; anywhere else they go to the thread pool. Each test enters and exits on one thread without awaiting in
/// between (the scope is per thread), and exits in a finally so that a failure leaves no scope open on a pool thread.
/// </summary>
public class DeferredInlineSchedulerTests
{
    [Fact]
    public void Schedule_OutsideAScope_RunsOnAPoolThread_NotTheCaller()
    {
        using var ran = new ManualResetEventSlim();
        int caller = Environment.CurrentManagedThreadId;
        (int Thread, bool Pool) where = default;

        DeferredInlineScheduler.Instance.Schedule(_ =>
        {
            where = (Environment.CurrentManagedThreadId, Thread.CurrentThread.IsThreadPoolThread);
            ran.Set();
        }, null);

        // The caller blocks here: the action can only run on some other thread.
        Assert.True(ran.Wait(YamuxTest.Timeout), "the scheduled action never ran");
        Assert.NotEqual(caller, where.Thread);
        Assert.True(where.Pool, "the action did not run on a thread-pool thread");
    }

    [Fact]
    public void Schedule_InsideAScope_RunsNothingUntilExit_ThenEverythingOnTheExitingThread_InOrder()
    {
        var ran = new List<(string Name, int Thread)>();
        int caller = Environment.CurrentManagedThreadId;
        int ranBeforeExit;

        DeferredInlineScheduler.Enter();
        try
        {
            foreach (string name in new[] { "a", "b", "c" })
            {
                DeferredInlineScheduler.Instance.Schedule(state => ran.Add(((string)state!, Environment.CurrentManagedThreadId)), name);
            }
            ranBeforeExit = ran.Count;
        }
        finally
        {
            DeferredInlineScheduler.Exit();
        }

        Assert.Equal(0, ranBeforeExit);
        Assert.Equal([("a", caller), ("b", caller), ("c", caller)], ran);
    }

    [Fact]
    public void Schedule_InNestedScopes_WaitsForTheOutermostExit()
    {
        var ran = new List<int>();
        int afterInnerExit;

        DeferredInlineScheduler.Enter();
        try
        {
            DeferredInlineScheduler.Instance.Schedule(_ => ran.Add(1), null);
            DeferredInlineScheduler.Enter();
            try
            {
                DeferredInlineScheduler.Instance.Schedule(_ => ran.Add(2), null);
            }
            finally
            {
                DeferredInlineScheduler.Exit();
            }
            afterInnerExit = ran.Count;
            DeferredInlineScheduler.Instance.Schedule(_ => ran.Add(3), null);
        }
        finally
        {
            DeferredInlineScheduler.Exit();
        }

        Assert.Equal(0, afterInnerExit);
        Assert.Equal([1, 2, 3], ran);
    }

    [Fact]
    public void Schedule_FromAnActionThatExitResumes_RunsOnAPoolThread()
    {
        using var secondRan = new ManualResetEventSlim();
        int caller = Environment.CurrentManagedThreadId;
        int firstThread = -1;
        bool secondRanInsideFirst = false;
        bool firstDone = false;
        (int Thread, bool Pool) second = default;

        DeferredInlineScheduler.Enter();
        try
        {
            DeferredInlineScheduler.Instance.Schedule(_ =>
            {
                firstThread = Environment.CurrentManagedThreadId;
                // Exit's replay is outside the scope: this one is not held for this thread, nor run inline.
                DeferredInlineScheduler.Instance.Schedule(_ =>
                {
                    second = (Environment.CurrentManagedThreadId, Thread.CurrentThread.IsThreadPoolThread);
                    secondRanInsideFirst = !Volatile.Read(ref firstDone) && Environment.CurrentManagedThreadId == caller;
                    secondRan.Set();
                }, null);
                Volatile.Write(ref firstDone, true);
            }, null);
        }
        finally
        {
            DeferredInlineScheduler.Exit();
        }

        Assert.Equal(caller, firstThread);
        Assert.True(secondRan.Wait(YamuxTest.Timeout), "the action scheduled during the replay never ran");
        Assert.False(secondRanInsideFirst);
        Assert.NotEqual(caller, second.Thread);
        Assert.True(second.Pool, "the action scheduled during the replay did not run on a thread-pool thread");

        // And the scope is really closed: a later Schedule on this thread goes to the pool too.
        using var later = new ManualResetEventSlim();
        int laterThread = caller;
        DeferredInlineScheduler.Instance.Schedule(_ =>
        {
            laterThread = Environment.CurrentManagedThreadId;
            later.Set();
        }, null);
        Assert.True(later.Wait(YamuxTest.Timeout), "the later action never ran");
        Assert.NotEqual(caller, laterThread);
    }
}
