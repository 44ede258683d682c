using System.Runtime.CompilerServices;

namespace P2PNet.Muxing.Yamux;

/// <summary>
/// <c>await default(ThreadPoolYield)</c> continues on the thread pool, whatever the caller's synchronization context:
/// what <see cref="Task.Run(Func{Task})"/> gives a background loop, without the wrapper tasks it keeps alive for the
/// loop's whole life.
/// </summary>
internal readonly struct ThreadPoolYield : ICriticalNotifyCompletion
{
    /// <summary>Part of the awaitable pattern.</summary>
    public ThreadPoolYield GetAwaiter() => this;

    /// <summary>Always <see langword="false"/>: the continuation is always queued.</summary>
    public bool IsCompleted => false;

    /// <summary>Part of the awaitable pattern.</summary>
    public void GetResult()
    {
    }

    /// <inheritdoc/>
    public void OnCompleted(Action continuation) =>
        ThreadPool.QueueUserWorkItem(static state => ((Action)state!)(), continuation, preferLocal: false);

    /// <inheritdoc/>
    public void UnsafeOnCompleted(Action continuation) =>
        ThreadPool.UnsafeQueueUserWorkItem(static state => ((Action)state!)(), continuation, preferLocal: false);
}
