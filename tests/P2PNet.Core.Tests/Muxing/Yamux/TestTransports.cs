using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace P2PNet.Core.Tests.Muxing;

/// <summary>Two connected ends of a byte transport, as the muxer sees a secured connection.</summary>
public sealed class TransportPair : IAsyncDisposable
{
    private readonly IAsyncDisposable? _resources;

    public TransportPair(IDuplexPipe dialer, IDuplexPipe listener, IAsyncDisposable? resources = null)
    {
        Dialer = dialer;
        Listener = listener;
        _resources = resources;
    }

    public IDuplexPipe Dialer { get; }

    public IDuplexPipe Listener { get; }

    public ValueTask DisposeAsync() => _resources?.DisposeAsync() ?? ValueTask.CompletedTask;
}

internal sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
{
    public PipeReader Input { get; } = input;

    public PipeWriter Output { get; } = output;
}

internal static class TestTransports
{
    /// <summary>Generous thresholds, like a socket's buffers, so that the transport is not the bottleneck.</summary>
    public static readonly PipeOptions InMemoryOptions = new(
        pauseWriterThreshold: 1024 * 1024,
        resumeWriterThreshold: 512 * 1024,
        useSynchronizationContext: false);

    // 64 KiB buffers: with the 4 KiB default every socket send and receive moves 4 KiB, and system calls dominate.
    private static readonly StreamPipeReaderOptions ReaderOptions = new(bufferSize: 64 * 1024);
    private static readonly StreamPipeWriterOptions WriterOptions = new(minimumBufferSize: 64 * 1024);

    /// <summary>Two <see cref="Pipe"/>s cross-wired.</summary>
    public static TransportPair CreateInMemory(PipeOptions? options = null)
    {
        var toListener = new Pipe(options ?? InMemoryOptions);
        var toDialer = new Pipe(options ?? InMemoryOptions);
        return new TransportPair(
            new DuplexPipe(toDialer.Reader, toListener.Writer),
            new DuplexPipe(toListener.Reader, toDialer.Writer));
    }

    /// <summary>
    /// In-memory pipes with <paramref name="oneWayLatency"/> added in each direction (a long fat link): bytes keep flowing
    /// back to back, each arriving that much after it was sent. The returned resources own the pumping tasks.
    /// </summary>
    public static TransportPair CreateWithLatency(TimeSpan oneWayLatency)
    {
        var dialerOut = new Pipe(InMemoryOptions);
        var listenerIn = new Pipe(InMemoryOptions);
        var listenerOut = new Pipe(InMemoryOptions);
        var dialerIn = new Pipe(InMemoryOptions);
        var links = new LatencyLinks(
            new LatencyLink(dialerOut.Reader, listenerIn.Writer, oneWayLatency),
            new LatencyLink(listenerOut.Reader, dialerIn.Writer, oneWayLatency));
        return new TransportPair(
            new DuplexPipe(dialerIn.Reader, dialerOut.Writer),
            new DuplexPipe(listenerIn.Reader, listenerOut.Writer),
            links);
    }

    /// <summary>A real loopback TCP connection, each end a <see cref="NetworkStream"/> wrapped in pipes.</summary>
    public static async Task<TransportPair> CreateTcpAsync()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var dialerSocket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Task connect = dialerSocket.ConnectAsync((IPEndPoint)listener.LocalEndpoint);
        Socket listenerSocket = await listener.AcceptSocketAsync().WaitAsync(TimeSpan.FromSeconds(10));
        await connect.WaitAsync(TimeSpan.FromSeconds(10));
        listenerSocket.NoDelay = true;

        var dialerStream = new NetworkStream(dialerSocket, ownsSocket: true);
        var listenerStream = new NetworkStream(listenerSocket, ownsSocket: true);
        return new TransportPair(
            new DuplexPipe(PipeReader.Create(dialerStream, ReaderOptions), PipeWriter.Create(dialerStream, WriterOptions)),
            new DuplexPipe(PipeReader.Create(listenerStream, ReaderOptions), PipeWriter.Create(listenerStream, WriterOptions)),
            new Sockets(dialerStream, listenerStream));
    }

    private sealed class Sockets(NetworkStream a, NetworkStream b) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await a.DisposeAsync();
            await b.DisposeAsync();
        }
    }

    private sealed class LatencyLinks(LatencyLink a, LatencyLink b) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await a.DisposeAsync();
            await b.DisposeAsync();
        }
    }

    /// <summary>Copies from one pipe to another, releasing each chunk <c>latency</c> after it was read.</summary>
    private sealed class LatencyLink : IAsyncDisposable
    {
        private readonly Channel<(long Due, byte[] Data)> _inFlight = Channel.CreateBounded<(long, byte[])>(1024);
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _send;
        private readonly Task _deliver;

        public LatencyLink(PipeReader from, PipeWriter to, TimeSpan latency)
        {
            _send = Task.Run(() => SendAsync(from, latency));
            _deliver = Task.Run(() => DeliverAsync(to));
        }

        private async Task SendAsync(PipeReader from, TimeSpan latency)
        {
            try
            {
                while (true)
                {
                    ReadResult result = await from.ReadAsync(_stop.Token);
                    if (!result.Buffer.IsEmpty)
                    {
                        long due = Stopwatch.GetTimestamp() + (long)(latency.TotalSeconds * Stopwatch.Frequency);
                        await _inFlight.Writer.WriteAsync((due, result.Buffer.ToArray()), _stop.Token);
                    }

                    from.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted)
                    {
                        break;
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
            finally
            {
                _inFlight.Writer.TryComplete();
                await from.CompleteAsync();
            }
        }

        private async Task DeliverAsync(PipeWriter to)
        {
            try
            {
                await foreach ((long due, byte[] data) in _inFlight.Reader.ReadAllAsync(_stop.Token))
                {
                    TimeSpan wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                    if (wait > TimeSpan.Zero)
                    {
                        await Task.Delay(wait, _stop.Token);
                    }

                    FlushResult flushed = await to.WriteAsync(data, _stop.Token);
                    if (flushed.IsCompleted)
                    {
                        break;
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
            finally
            {
                await to.CompleteAsync();
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAll(_send, _deliver).WaitAsync(YamuxTest.Timeout);
            _stop.Dispose();
        }
    }
}
