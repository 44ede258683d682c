using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;

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

    /// <summary>Two <see cref="Pipe"/>s cross-wired.</summary>
    public static TransportPair CreateInMemory(PipeOptions? options = null)
    {
        var toListener = new Pipe(options ?? InMemoryOptions);
        var toDialer = new Pipe(options ?? InMemoryOptions);
        return new TransportPair(
            new DuplexPipe(toDialer.Reader, toListener.Writer),
            new DuplexPipe(toListener.Reader, toDialer.Writer));
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
            new DuplexPipe(PipeReader.Create(dialerStream), PipeWriter.Create(dialerStream)),
            new DuplexPipe(PipeReader.Create(listenerStream), PipeWriter.Create(listenerStream)),
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
}
