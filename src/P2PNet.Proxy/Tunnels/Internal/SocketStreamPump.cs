using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using P2PNet.Host;

namespace P2PNet.Proxy.Tunnels.Internal;

/// <summary>
/// Pipes bytes both ways between a TCP socket and a byte stream (a libp2p stream, or a connection of the user-space
/// TCP/IP stack: <see cref="IPumpedStream"/>) until both directions have ended, respecting half-close: the socket's FIN
/// becomes the stream's <c>CompleteWrites</c> and the stream's end becomes the socket's <c>Shutdown(Send)</c>, so
/// protocols that close one side first (SSH's exit, HTTP/1.0 requests, <c>nc -q</c>) work. An error either way (a reset
/// of either side), an idle timeout or cancellation resets both.
/// </summary>
internal static class SocketStreamPump
{
    /// <summary>The most read from the socket at once (also the size of one stream write).</summary>
    private const int ChunkSize = 64 * 1024;

    /// <summary>Runs the pump; disposes <paramref name="socket"/> and <paramref name="stream"/> when done.</summary>
    /// <param name="socket">The public connection (server) or the local service's (device).</param>
    /// <param name="stream">The libp2p stream.</param>
    /// <param name="initial">Bytes already read from the socket (a request head a front parsed), sent first.</param>
    /// <param name="countToStream">Counts bytes socket → stream.</param>
    /// <param name="countToSocket">Counts bytes stream → socket.</param>
    /// <param name="toStreamLimit">Rate limit socket → stream, if any.</param>
    /// <param name="toSocketLimit">Rate limit stream → socket, if any.</param>
    /// <param name="idle">Ends the pump after the idle timeout.</param>
    /// <param name="cancellationToken">Ends the pump (shutdown).</param>
    /// <returns>Whether both directions ended cleanly.</returns>
    public static Task<bool> RunAsync(Socket socket, P2PStream stream, ReadOnlyMemory<byte> initial,
        Action<int>? countToStream, Action<int>? countToSocket, ByteRateLimiter? toStreamLimit, ByteRateLimiter? toSocketLimit,
        IdleSweeper idle, CancellationToken cancellationToken) =>
        RunAsync(socket, new PumpedP2PStream(stream), initial, countToStream, countToSocket, toStreamLimit, toSocketLimit, idle,
            cancellationToken);

    /// <summary>Runs the pump with any stream end; disposes <paramref name="socket"/> and <paramref name="stream"/> when done.</summary>
    /// <inheritdoc cref="RunAsync(Socket, P2PStream, ReadOnlyMemory{byte}, Action{int}?, Action{int}?, ByteRateLimiter?, ByteRateLimiter?, IdleSweeper, CancellationToken)"/>
    public static async Task<bool> RunAsync(Socket socket, IPumpedStream stream, ReadOnlyMemory<byte> initial,
        Action<int>? countToStream, Action<int>? countToSocket, ByteRateLimiter? toStreamLimit, ByteRateLimiter? toSocketLimit,
        IdleSweeper idle, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var activity = idle.Watch(cts);
        bool clean = false;
        try
        {
            Task up = SocketToStreamAsync(socket, stream, initial, countToStream, toStreamLimit, activity, cts.Token);
            Task down = StreamToSocketAsync(stream, socket, countToSocket, toSocketLimit, activity, cts.Token);
            // Either direction failing ends both: the other would otherwise wait for bytes that never come.
            Task first = await Task.WhenAny(up, down).ConfigureAwait(false);
            if (first.IsFaulted || first.IsCanceled)
            {
                await cts.CancelAsync().ConfigureAwait(false);
            }
            await Task.WhenAll(up, down).ConfigureAwait(false);
            clean = true;
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException
            or Muxing.StreamResetException or Muxing.MuxerClosedException or InvalidOperationException)
        {
            // Reset below: the peer, the socket or the idle timeout ended the connection.
        }
        finally
        {
            if (!clean)
            {
                stream.Abort();
                socket.LingerState = new LingerOption(true, 0);
            }
            socket.Dispose();
            await stream.DisposeAsync().ConfigureAwait(false);
        }
        return clean;
    }

    private static async Task SocketToStreamAsync(Socket socket, IPumpedStream stream, ReadOnlyMemory<byte> initial,
        Action<int>? count, ByteRateLimiter? limit, IdleSweeper.Activity activity, CancellationToken cancellationToken)
    {
        var output = stream.Output;
        if (!initial.IsEmpty)
        {
            await output.WriteAsync(initial, cancellationToken).ConfigureAwait(false);
            count?.Invoke(initial.Length);
        }
        while (true)
        {
            Memory<byte> memory = output.GetMemory(ChunkSize);
            int read = await socket.ReceiveAsync(memory, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }
            activity.Touch();
            output.Advance(read);
            count?.Invoke(read);
            if (limit is not null)
            {
                await limit.WaitAsync(read, cancellationToken).ConfigureAwait(false);
            }
            var flush = await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            if (flush.IsCompleted)
            {
                // The remote closed its reading side: nothing more will be read.
                return;
            }
        }
        await stream.CompleteWritesAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task StreamToSocketAsync(IPumpedStream stream, Socket socket, Action<int>? count, ByteRateLimiter? limit,
        IdleSweeper.Activity activity, CancellationToken cancellationToken)
    {
        var input = stream.Input;
        while (true)
        {
            ReadResult result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            try
            {
                foreach (var segment in buffer)
                {
                    int sent = 0;
                    while (sent < segment.Length)
                    {
                        sent += await socket.SendAsync(segment[sent..], SocketFlags.None, cancellationToken).ConfigureAwait(false);
                    }
                }
                if (!buffer.IsEmpty)
                {
                    activity.Touch();
                    int length = (int)buffer.Length;
                    count?.Invoke(length);
                    if (limit is not null)
                    {
                        await limit.WaitAsync(length, cancellationToken).ConfigureAwait(false);
                    }
                }
            }
            finally
            {
                input.AdvanceTo(buffer.End);
            }
            if (result.IsCompleted || result.IsCanceled)
            {
                break;
            }
        }
        socket.Shutdown(SocketShutdown.Send);
    }
}
