using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Crypto;
using P2PNet.Peers;
using P2PNet.Security.Noise;

namespace P2PNet.Core.Tests.Security.Noise;

/// <summary>Runs both sides of a Noise handshake and moves data through secured channels.</summary>
internal static class NoiseTestHarness
{
    public static readonly TimeSpan Timeout = TestPipes.Timeout;

    public static async Task<(NoiseSecureChannel Initiator, NoiseSecureChannel Responder)> HandshakeAsync(
        IDuplexPipe initiatorTransport,
        IDuplexPipe responderTransport,
        PrivateKey initiatorKey,
        PrivateKey responderKey,
        NoiseOptions? initiatorOptions = null,
        NoiseOptions? responderOptions = null,
        PeerId? expectedResponder = null)
    {
        // The static keys are only used during the handshake; the channels do not need them afterwards.
        using var responder = new NoiseIdentity(responderKey);
        using var initiator = new NoiseIdentity(initiatorKey);
        var responding = NoiseHandshake.SecureInboundAsync(responderTransport, responder, responderOptions ?? new NoiseOptions(), NullLogger.Instance, CancellationToken.None).AsTask();
        var initiating = NoiseHandshake.SecureOutboundAsync(initiatorTransport, initiator, expectedResponder ?? responderKey.PublicKey.ToPeerId(), initiatorOptions ?? new NoiseOptions(), NullLogger.Instance, CancellationToken.None).AsTask();
        await Task.WhenAll(responding, initiating).WaitAsync(Timeout);
        return (await initiating, await responding);
    }

    /// <summary>Writes <paramref name="length"/> pseudo-random bytes in chunks of varying size, completes the writer, and returns their SHA-256.</summary>
    public static async Task<byte[]> WriteRandomAsync(PipeWriter writer, long length, int seed)
    {
        var random = new Random(seed);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var chunk = new byte[300_000];
        long left = length;
        while (left > 0)
        {
            int size = (int)Math.Min(left, random.Next(1, chunk.Length));
            random.NextBytes(chunk.AsSpan(0, size));
            sha.AppendData(chunk.AsSpan(0, size));
            FlushResult flush = await writer.WriteAsync(chunk.AsMemory(0, size)).AsTask().WaitAsync(Timeout);
            Assert.False(flush.IsCompleted, "The channel stopped accepting data.");
            left -= size;
        }
        await writer.CompleteAsync().AsTask().WaitAsync(Timeout);
        return sha.GetHashAndReset();
    }

    public static void AssertSame(long expectedLength, byte[] expectedHash, (long Length, byte[] Hash) received)
    {
        Assert.Equal(expectedLength, received.Length);
        Assert.Equal(expectedHash, received.Hash);
    }

    /// <summary>Reads to the end and returns the byte count and SHA-256.</summary>
    public static async Task<(long Length, byte[] Hash)> ReadAllAsync(PipeReader reader)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long length = 0;
        while (true)
        {
            ReadResult result = await reader.ReadAsync().AsTask().WaitAsync(Timeout);
            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                sha.AppendData(segment.Span);
            }
            length += result.Buffer.Length;
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                await reader.CompleteAsync();
                return (length, sha.GetHashAndReset());
            }
        }
    }
}

/// <summary>
/// A man in the middle for Noise frames: copies frames from one pipe to another, letting a test watch, alter,
/// hold back or cut them. Frame indexes count from 0 per direction, handshake messages included.
/// </summary>
internal static class FrameRelay
{
    /// <summary>What to do with a frame (header included): forward these bytes, and whether to stop afterwards.</summary>
    public delegate (byte[] Forward, bool Stop) Transform(int index, byte[] frame);

    public static async Task RunAsync(PipeReader from, PipeWriter to, Transform? transform = null, Func<int, bool>? flushAfter = null)
    {
        int index = 0;
        try
        {
            while (true)
            {
                ReadResult result = await from.ReadAsync();
                ReadOnlySequence<byte> buffer = result.Buffer;
                bool stop = false;
                while (!stop && buffer.Length >= 2)
                {
                    var header = new byte[2];
                    buffer.Slice(0, 2).CopyTo(header);
                    int length = 2 + BinaryPrimitives.ReadUInt16BigEndian(header);
                    if (buffer.Length < length)
                    {
                        break;
                    }
                    byte[] frame = buffer.Slice(0, length).ToArray();
                    buffer = buffer.Slice(length);
                    (byte[] forward, stop) = transform?.Invoke(index, frame) ?? (frame, false);
                    to.Write(forward);
                    if (flushAfter?.Invoke(index) ?? true)
                    {
                        await to.FlushAsync();
                    }
                    index++;
                }
                from.AdvanceTo(buffer.Start, buffer.End);
                if (stop || result.IsCompleted)
                {
                    break;
                }
            }
            await to.FlushAsync();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A side completed its transport with an error (it dropped the connection): the relay just stops.
        }
        finally
        {
            await to.CompleteAsync();
            await from.CompleteAsync();
        }
    }

    /// <summary>Two transports joined through relays in both directions.</summary>
    public static (IDuplexPipe Initiator, IDuplexPipe Responder, Task Relays) Connect(
        Transform? initiatorToResponder = null,
        Transform? responderToInitiator = null,
        Func<int, bool>? flushAfterInitiatorFrame = null)
    {
        var (initiator, initiatorFar) = TestPipes.CreatePair();
        var (responderFar, responder) = TestPipes.CreatePair();
        Task forward = RunAsync(initiatorFar.Input, responderFar.Output, initiatorToResponder, flushAfterInitiatorFrame);
        Task backward = RunAsync(responderFar.Input, initiatorFar.Output, responderToInitiator);
        return (initiator, responder, Task.WhenAll(forward, backward));
    }
}

/// <summary>A real loopback TCP connection as two duplex pipes; completing a writer shuts down the socket's send side.</summary>
internal sealed class LoopbackTcp : IDisposable
{
    private readonly Socket _client;
    private readonly Socket _server;

    private LoopbackTcp(Socket client, Socket server)
    {
        _client = client;
        _server = server;
        Client = Wrap(client);
        Server = Wrap(server);
    }

    public IDuplexPipe Client { get; }

    public IDuplexPipe Server { get; }

    public static async Task<LoopbackTcp> ConnectAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Task<Socket> accepting = listener.AcceptAsync();
        await client.ConnectAsync(listener.LocalEndPoint!).WaitAsync(TestPipes.Timeout);
        Socket server = await accepting.WaitAsync(TestPipes.Timeout);
        server.NoDelay = true;
        return new LoopbackTcp(client, server);
    }

    private static DuplexPipe Wrap(Socket socket)
    {
        var stream = new NetworkStream(socket, ownsSocket: false);
        return new DuplexPipe(
            PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 16 * 1024, leaveOpen: true)),
            new ShutdownOnCompleteWriter(PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true)), socket));
    }

    public void Dispose()
    {
        _client.Dispose();
        _server.Dispose();
    }

    private sealed class ShutdownOnCompleteWriter(PipeWriter inner, Socket socket) : PipeWriter
    {
        public override void Advance(int bytes) => inner.Advance(bytes);

        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);

        public override void Complete(Exception? exception = null)
        {
            inner.Complete(exception);
            Shutdown();
        }

        public override async ValueTask CompleteAsync(Exception? exception = null)
        {
            await inner.CompleteAsync(exception);
            Shutdown();
        }

        private void Shutdown()
        {
            try
            {
                socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // Already closed.
            }
        }
    }
}
