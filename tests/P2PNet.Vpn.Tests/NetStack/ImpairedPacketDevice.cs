using System.Diagnostics;

namespace P2PNet.Vpn.Tests.NetStack;

/// <summary>What <see cref="ImpairedPacketDevice"/> does to each packet, in both directions (netem's vocabulary).</summary>
/// <param name="Loss">Fraction of packets dropped.</param>
/// <param name="Duplicate">Fraction of packets sent twice.</param>
/// <param name="Delay">Delay of every packet.</param>
/// <param name="Reorder">Fraction of packets sent at once, ahead of the delayed others (netem's reorder).</param>
internal sealed record Impairment(double Loss = 0, double Duplicate = 0, TimeSpan Delay = default, double Reorder = 0);

/// <summary>
/// Sits between the TUN device and the stack and impairs packets both ways as netem would. This machine's kernel has no
/// sch_netem (and cannot load modules), so the impairment is done here, between the kernel and the stack: the kernel
/// is still the peer on the other end. Seeded, so a failure replays. Its two pumps are owned and awaited on disposal.
/// </summary>
internal sealed class ImpairedPacketDevice : IPacketDevice
{
    private readonly IPacketDevice _inner;
    private readonly Impairment _impairment;
    private readonly Random _random;
    private readonly DelayLine _toStack = new();
    private readonly DelayLine _toKernel = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _inbound;
    private readonly Task _outbound;

    public ImpairedPacketDevice(IPacketDevice inner, Impairment impairment, int seed)
    {
        _inner = inner;
        _impairment = impairment;
        _random = new Random(seed);
        _inbound = Task.Factory.StartNew(() => PumpInboundAsync(_stop.Token), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
        _outbound = Task.Run(() => PumpOutboundAsync(_stop.Token));
    }

    public long Dropped { get; private set; }

    public ValueTask ConfigureAsync(System.Net.IPAddress address, int prefixLength, int mtu, CancellationToken cancellationToken = default) =>
        _inner.ConfigureAsync(address, prefixLength, mtu, cancellationToken);

    public async ValueTask<int> ReadPacketAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        byte[]? packet = await _toStack.TakeAsync(cancellationToken);
        if (packet is null)
        {
            return 0;
        }
        packet.CopyTo(buffer);
        return packet.Length;
    }

    public ValueTask WritePacketAsync(ReadOnlyMemory<byte> packet, CancellationToken cancellationToken = default)
    {
        Impair(packet.ToArray(), _toKernel);
        return ValueTask.CompletedTask;
    }

    private void Impair(byte[] packet, DelayLine line)
    {
        long now = Stopwatch.GetTimestamp();
        lock (_random)
        {
            if (_random.NextDouble() < _impairment.Loss)
            {
                Dropped++;
                return;
            }
            int copies = _random.NextDouble() < _impairment.Duplicate ? 2 : 1;
            for (int i = 0; i < copies; i++)
            {
                bool early = _random.NextDouble() < _impairment.Reorder;
                long delay = early ? 0 : (long)(_impairment.Delay.TotalSeconds * Stopwatch.Frequency);
                line.Add(packet, now + delay);
            }
        }
    }

    private async Task PumpInboundAsync(CancellationToken ct)
    {
        var buffer = new byte[65536];
        try
        {
            int n;
            while ((n = await _inner.ReadPacketAsync(buffer, ct)) > 0)
            {
                Impair(buffer.AsSpan(0, n).ToArray(), _toStack);
            }
        }
        catch (OperationCanceledException)
        {
        }
        _toStack.Complete();
    }

    private async Task PumpOutboundAsync(CancellationToken ct)
    {
        try
        {
            while (await _toKernel.TakeAsync(ct) is { } packet)
            {
                await _inner.WritePacketAsync(packet, ct);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _toKernel.Complete();
        _toStack.Complete();
        await Task.WhenAll(_inbound, _outbound);
        _stop.Dispose();
    }

    /// <summary>Packets released in order of their due time (so an early one overtakes delayed ones).</summary>
    private sealed class DelayLine
    {
        private readonly PriorityQueue<byte[], (long Due, long Order)> _queue = new();
        private long _order;
        private bool _completed;
        private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Add(byte[] packet, long due)
        {
            TaskCompletionSource changed;
            lock (_queue)
            {
                _queue.Enqueue(packet, (due, _order++));
                changed = _changed;
                _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
            changed.TrySetResult();
        }

        public void Complete()
        {
            TaskCompletionSource changed;
            lock (_queue)
            {
                _completed = true;
                changed = _changed;
            }
            changed.TrySetResult();
        }

        public async Task<byte[]?> TakeAsync(CancellationToken ct)
        {
            while (true)
            {
                Task changed;
                TimeSpan wait;
                lock (_queue)
                {
                    if (_queue.TryPeek(out var packet, out var key))
                    {
                        long now = Stopwatch.GetTimestamp();
                        if (key.Due <= now)
                        {
                            _queue.Dequeue();
                            return packet;
                        }
                        wait = Stopwatch.GetElapsedTime(now, key.Due);
                    }
                    else if (_completed)
                    {
                        return null;
                    }
                    else
                    {
                        wait = System.Threading.Timeout.InfiniteTimeSpan;
                    }
                    changed = _changed.Task;
                }
                if (wait == System.Threading.Timeout.InfiniteTimeSpan)
                {
                    await changed.WaitAsync(ct);
                }
                else
                {
                    await Task.WhenAny(changed, Task.Delay(wait, ct));
                    ct.ThrowIfCancellationRequested();
                }
            }
        }
    }
}
