using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using P2PNet.Multiformats;

namespace P2PNet.Transports.Tcp;

/// <summary>
/// A TCP socket exposed as a pair of pipes, with one receive loop and one send loop owned by the connection
/// (the shape of Kestrel's socket transport). Pipe thresholds give backpressure both ways.
/// </summary>
internal sealed class SocketConnection : TransportConnection, IInlineDelivery
{
    // How long the receive thread blocks in poll(2) before it looks whether the connection was disposed (disposal
    // also wakes it, by shutting the socket down).
    private const int ReceivePollMicroseconds = 250_000;

    private static int s_receiveThreads;

    private const int MinimumReceiveBuffer = 16 * 1024;

    // While data keeps filling the buffer (a bulk transfer), each receive asks for twice as much, up to this:
    // fewer syscalls and pipe segments per byte. Measured in docs/performance.md.
    private const int MaximumReceiveBuffer = 256 * 1024;

    /// <summary>How long disposal waits for the remote's end of stream, and then for the receive loop to read the one its
    /// shutdown(2) causes.</summary>
    private static readonly TimeSpan ReceiveEndGrace = TimeSpan.FromSeconds(1);

    private readonly Socket _socket;
    private readonly Pipe _receivePipe;
    private readonly Pipe _sendPipe;
    private readonly Task _receiveLoop;
    private readonly Task _sendLoop;
    private int _disposed;

    /// <summary>Whether the dial left from a listening port (<see cref="TcpTransportOptions.PortReuse"/>).</summary>
    internal bool FromListeningPort { get; init; }

    public SocketConnection(Socket socket, TcpTransportOptions options)
    {
        _socket = socket;
        LocalAddress = Multiaddr.FromTcpEndPoint((IPEndPoint)socket.LocalEndPoint!);
        RemoteAddress = Multiaddr.FromTcpEndPoint((IPEndPoint)socket.RemoteEndPoint!);
        DeliversInline = options.LowLatency;
        _receivePipe = DeliversInline ? CreateInlinePipe(options.MaxReadBufferSize, MinimumReceiveBuffer) : CreateBoundedPipe(options.MaxReadBufferSize, MinimumReceiveBuffer);
        _sendPipe = DeliversInline ? CreateInlinePipe(options.MaxWriteBufferSize) : CreateBoundedPipe(options.MaxWriteBufferSize);
        _receiveLoop = DeliversInline ? StartReceiveThread() : ReceiveLoopAsync();
        _sendLoop = SendLoopAsync();
    }

    /// <summary>Whether this connection receives on its own thread and runs the layers above inline
    /// (<see cref="TcpTransportOptions.LowLatency"/>).</summary>
    public bool DeliversInline { get; }

    /// <summary>Receive threads alive in this process (for tests: each ends with its connection).</summary>
    internal static int ReceiveThreads => Volatile.Read(ref s_receiveThreads);

    public override PipeReader Input => _receivePipe.Reader;

    public override PipeWriter Output => _sendPipe.Writer;

    public override Multiaddr LocalAddress { get; }

    public override Multiaddr RemoteAddress { get; }

    private async Task ReceiveLoopAsync()
    {
        await Task.Yield();
        var writer = _receivePipe.Writer;
        Exception? error = null;
        try
        {
            int size = MinimumReceiveBuffer;
            bool bufferWasFilled = false;
            while (true)
            {
                if (!bufferWasFilled)
                {
                    // A zero-byte receive waits until data (or end of stream) arrives without holding a buffer, so an
                    // idle connection keeps no receive memory. Skipped while a bulk transfer keeps filling buffers.
                    await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None).ConfigureAwait(false);
                }
                Memory<byte> memory = writer.GetMemory(size);
                int read = await _socket.ReceiveAsync(memory, SocketFlags.None).ConfigureAwait(false);
                if (read == 0)
                {
                    break; // the remote half-closed
                }
                bufferWasFilled = read == memory.Length;
                size = bufferWasFilled ? Math.Min(size * 2, MaximumReceiveBuffer) : MinimumReceiveBuffer;
                writer.Advance(read);
                CountReceived(read);
                FlushResult flush = await writer.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    if (flush.IsCompleted && Volatile.Read(ref _disposed) != 0)
                    {
                        await DiscardUntilEndAsync().ConfigureAwait(false);
                    }
                    break; // our reader is gone
                }
            }
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.OperationAborted or SocketError.Shutdown or SocketError.ConnectionAborted)
        {
            error = _disposed != 0 ? null : new IOException($"The connection to {RemoteAddress} was reset.", e);
        }
        catch (ObjectDisposedException)
        {
        }
        catch (Exception e)
        {
            error = new IOException($"Reading from {RemoteAddress} failed: {e.Message}", e);
        }
        await writer.CompleteAsync(error).ConfigureAwait(false);
    }

    /// <summary>
    /// Closing: reads and drops what the remote still sends until its end of stream. Closing a socket with unread bytes
    /// makes the kernel reset the connection, and the remote then sees an error where it should see a close (every
    /// short-lived connection whose peer's last frames crossed our FIN did).
    /// </summary>
    private async Task DiscardUntilEndAsync()
    {
        byte[] scratch = ArrayPool<byte>.Shared.Rent(MinimumReceiveBuffer);
        try
        {
            while (await _socket.ReceiveAsync(scratch.AsMemory(), SocketFlags.None).ConfigureAwait(false) > 0)
            {
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <summary>Starts <see cref="ReceiveOnThread"/> on a background thread of its own; the task completes when it ends.</summary>
    private Task StartReceiveThread()
    {
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(static state =>
        {
            var (connection, ended) = ((SocketConnection, TaskCompletionSource))state!;
            try
            {
                connection.ReceiveOnThread();
            }
            finally
            {
                Interlocked.Decrement(ref s_receiveThreads);
                ended.TrySetResult();
            }
        })
        {
            IsBackground = true,
            Name = "p2pnet receive",
        };
        Interlocked.Increment(ref s_receiveThreads);
        thread.UnsafeStart((this, ended));
        return ended.Task;
    }

    /// <summary>
    /// The receive loop of a <see cref="TcpTransportOptions.LowLatency"/> connection: blocks in poll(2), not in the
    /// socket engine, so arriving data wakes this thread alone, and the flush runs the layers above (decryption,
    /// demultiplexing, the stream's reader) inline before the next poll. A flush that waits for the reader
    /// (backpressure) blocks this thread, which is the connection's own.
    /// </summary>
    private void ReceiveOnThread()
    {
        var writer = _receivePipe.Writer;
        Exception? error = null;
        try
        {
            int size = MinimumReceiveBuffer;
            while (ReceiveOnce(writer, ref size))
            {
            }
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.OperationAborted or SocketError.Shutdown or SocketError.ConnectionAborted or SocketError.Interrupted)
        {
            error = _disposed != 0 ? null : new IOException($"The connection to {RemoteAddress} was reset.", e);
        }
        catch (ObjectDisposedException)
        {
        }
        catch (Exception e)
        {
            error = new IOException($"Reading from {RemoteAddress} failed: {e.Message}", e);
        }
        writer.Complete(error);
    }

    /// <summary>One wait and receive of <see cref="ReceiveOnThread"/>; false at the end. A method of its own so that it is
    /// recompiled as it gets hot (a loop that never returns would keep its first code, ReadyToRun's included).</summary>
    private bool ReceiveOnce(PipeWriter writer, ref int size)
    {
        if (!_socket.Poll(ReceivePollMicroseconds, SelectMode.SelectRead))
        {
            return Volatile.Read(ref _disposed) == 0;
        }
        // Readable: data, end of stream or an error, so the receive below does not block.
        Memory<byte> memory = writer.GetMemory(size);
        int read = _socket.Receive(memory.Span, SocketFlags.None);
        if (read == 0)
        {
            return false; // the remote half-closed
        }
        size = read == memory.Length ? Math.Min(size * 2, MaximumReceiveBuffer) : MinimumReceiveBuffer;
        writer.Advance(read);
        CountReceived(read);
        ValueTask<FlushResult> pending = writer.FlushAsync();
        FlushResult flush = pending.IsCompletedSuccessfully ? pending.Result : pending.AsTask().GetAwaiter().GetResult();
        return !flush.IsCompleted && !flush.IsCanceled; // else our reader is gone
    }

    private async Task SendLoopAsync()
    {
        await Task.Yield();
        var reader = _sendPipe.Reader;
        var segments = new List<ArraySegment<byte>>();
        try
        {
            while (true)
            {
                ReadResult result = await reader.ReadAsync().ConfigureAwait(false);
                ReadOnlySequence<byte> buffer = result.Buffer;
                if (!buffer.IsEmpty)
                {
                    if (buffer.IsSingleSegment)
                    {
                        await SendAllAsync(buffer.First).ConfigureAwait(false);
                    }
                    else
                    {
                        segments.Clear();
                        foreach (var memory in buffer)
                        {
                            segments.Add(GetArray(memory));
                        }
                        int sent = await _socket.SendAsync(segments, SocketFlags.None).ConfigureAwait(false);
                        if (sent < buffer.Length)
                        {
                            // Partial vectored sends are rare; finish the rest segment by segment.
                            foreach (var memory in buffer.Slice(sent))
                            {
                                await SendAllAsync(memory).ConfigureAwait(false);
                            }
                        }
                    }
                }
                CountSent(buffer.Length);
                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
            // Our writer completed: half-close so the remote sees end of stream.
            _socket.Shutdown(SocketShutdown.Send);
            await reader.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
        {
            await reader.CompleteAsync(new IOException($"Writing to {RemoteAddress} failed: {e.Message}", e)).ConfigureAwait(false);
        }
    }

    private async ValueTask SendAllAsync(ReadOnlyMemory<byte> memory)
    {
        while (!memory.IsEmpty)
        {
            int sent = await _socket.SendAsync(memory, SocketFlags.None).ConfigureAwait(false);
            memory = memory[sent..];
        }
    }

    private static ArraySegment<byte> GetArray(ReadOnlyMemory<byte> memory) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(memory, out var segment)
            ? segment
            : new ArraySegment<byte>(memory.ToArray());

    public override void Abort()
    {
        try
        {
            _socket.LingerState = new LingerOption(true, 0); // RST instead of FIN
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        WakeReceiveThread();
        _socket.Dispose();
    }

    /// <summary>Ends a receive thread's poll(2) at once (it reads end of stream) instead of at its next timeout; sends
    /// nothing to the remote.</summary>
    private void WakeReceiveThread()
    {
        if (DeliversInline)
        {
            ShutdownReceive();
        }
    }

    private static async Task WaitQuietlyAsync(Task task, TimeSpan timeout)
    {
        try
        {
            await task.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // the caller goes on and ends it another way
        }
    }

    /// <summary>shutdown(2) of the receive side: a pending or later receive reads end of stream. Sends nothing.</summary>
    private void ShutdownReceive()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Receive);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Not connected any more, or already closed: the thread sees that at its next poll.
        }
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        // Let queued bytes go out, then close.
        await _sendPipe.Writer.CompleteAsync().ConfigureAwait(false);
        try
        {
            await _sendLoop.WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
        // Nobody reads any more. The receive loop goes on to the remote's end of stream, dropping what still arrives
        // (DiscardUntilEndAsync), so that the socket closes with nothing unread and the remote sees a clean close, not
        // a reset; a remote that has not closed within the grace is cut off. A receive thread (LowLatency) is not
        // waited for. Then shutting the receive side down ends a pending receive with end of stream, instead of by the
        // exception a receive pending on a disposed socket throws.
        await _receivePipe.Reader.CompleteAsync().ConfigureAwait(false);
        if (!DeliversInline)
        {
            await WaitQuietlyAsync(_receiveLoop, ReceiveEndGrace).ConfigureAwait(false);
        }
        ShutdownReceive();
        await WaitQuietlyAsync(_receiveLoop, ReceiveEndGrace).ConfigureAwait(false);
        _socket.Dispose();
        await Task.WhenAll(_receiveLoop, _sendLoop).ConfigureAwait(false);
    }
}
