using System.Buffers;
using P2PNet.Host;

namespace P2PNet.Protocols.Relay.Internal;

/// <summary>Forwards bytes both ways between the source's hop stream and the destination's stop stream, within the
/// circuit's limits (libp2p/specs relay/circuit-v2.md, "Limit"): past its data limit in either direction, or its
/// duration, both streams are reset.</summary>
internal static class CircuitSplice
{
    /// <summary>Returns why the circuit ended: "closed" when both sides finished, otherwise the limit or the error.</summary>
    public static async Task<string> RunAsync(P2PStream source, P2PStream destination, TimeSpan duration, long dataLimit,
        TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        using var lifetime = duration > TimeSpan.Zero ? new CancellationTokenSource(duration, timeProvider) : new CancellationTokenSource();
        using var circuit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lifetime.Token);
        Task forward = PumpAsync(source, destination, dataLimit, circuit);
        Task backward = PumpAsync(destination, source, dataLimit, circuit);
        try
        {
            await Task.WhenAll(forward, backward).ConfigureAwait(false);
            return "closed";
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            source.Abort();
            destination.Abort();
            // Let both pumps end (each is cancelled now) before the streams are released.
            await Task.WhenAll(forward, backward).ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
            if (forward.Exception?.InnerException is CircuitLimitException || backward.Exception?.InnerException is CircuitLimitException)
            {
                return $"the data limit of {dataLimit} bytes was reached";
            }
            if (lifetime.IsCancellationRequested)
            {
                return $"the duration limit of {duration.TotalSeconds:0.#} s was reached";
            }
            return cancellationToken.IsCancellationRequested ? "the relay is stopping" : e.Message;
        }
    }

    private static async Task PumpAsync(P2PStream from, P2PStream to, long limit, CancellationTokenSource circuit)
    {
        try
        {
            long total = 0;
            while (true)
            {
                var result = await from.Input.ReadAsync(circuit.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                if (limit > 0 && total + buffer.Length > limit)
                {
                    from.Input.AdvanceTo(buffer.End);
                    throw new CircuitLimitException();
                }
                foreach (var segment in buffer)
                {
                    to.Output.Write(segment.Span);
                }
                total += buffer.Length;
                from.Input.AdvanceTo(buffer.End);
                if (!buffer.IsEmpty)
                {
                    await to.Output.FlushAsync(circuit.Token).ConfigureAwait(false);
                }
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
            await to.Output.CompleteAsync().ConfigureAwait(false); // half-close: the other side reads end of stream
        }
        catch
        {
            await circuit.CancelAsync().ConfigureAwait(false); // the other direction ends too
            throw;
        }
    }

    /// <summary>A direction carried more than the circuit's data limit.</summary>
    private sealed class CircuitLimitException : IOException
    {
        public CircuitLimitException()
            : base("The circuit's data limit was reached.")
        {
        }
    }
}
