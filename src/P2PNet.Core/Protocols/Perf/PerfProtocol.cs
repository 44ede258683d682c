using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using P2PNet.Host;

namespace P2PNet.Protocols.Perf;

/// <summary>
/// <c>/perf/1.0.0</c> (libp2p/specs perf/perf.md): the client sends a u64 big-endian (the bytes it wants back), uploads,
/// and closes its write side; the server reads to end of stream, sends the requested bytes and closes.
/// </summary>
public static class PerfProtocol
{
    /// <summary>The protocol id.</summary>
    public const string Id = "/perf/1.0.0";

    private const int BlockSize = 64 * 1024;

    /// <summary>Serves one perf request.</summary>
    public static async Task HandleAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(BlockSize);
        try
        {
            int read = await stream.ReadAtLeastAsync(buffer.AsMemory(0, 8), 8, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            if (read < 8)
            {
                throw new IOException("The perf client closed the stream before sending the 8-byte download size.");
            }
            ulong toSend = BinaryPrimitives.ReadUInt64BigEndian(buffer);
            while (await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false) > 0)
            {
                // discard the upload
            }
            await SendAsync(stream, toSend, buffer, progress: null, start: 0, cancellationToken).ConfigureAwait(false);
            await stream.CompleteWritesAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Runs perf against <paramref name="connection"/>: uploads <paramref name="uploadBytes"/>, then downloads <paramref name="downloadBytes"/>.</summary>
    public static Task<PerfResult> RunAsync(P2PConnection connection, long uploadBytes, long downloadBytes, CancellationToken cancellationToken = default) =>
        RunAsync(connection, uploadBytes, downloadBytes, progress: null, cancellationToken);

    /// <summary>
    /// Runs perf against <paramref name="connection"/>: uploads <paramref name="uploadBytes"/>, then downloads
    /// <paramref name="downloadBytes"/>, reporting the bytes moved so far to <paramref name="progress"/> after every block.
    /// </summary>
    /// <remarks><paramref name="progress"/> is called on the run's own task, once per block (64 KiB): keep it cheap
    /// (e.g. store the latest value and print it from a timer).</remarks>
    public static async Task<PerfResult> RunAsync(P2PConnection connection, long uploadBytes, long downloadBytes, IProgress<PerfProgress>? progress, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentOutOfRangeException.ThrowIfNegative(uploadBytes);
        ArgumentOutOfRangeException.ThrowIfNegative(downloadBytes);
        var stream = await connection.OpenStreamAsync(Id, cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            byte[] buffer = ArrayPool<byte>.Shared.Rent(BlockSize);
            try
            {
                long start = Stopwatch.GetTimestamp();
                BinaryPrimitives.WriteUInt64BigEndian(buffer, (ulong)downloadBytes);
                await stream.WriteAsync(buffer.AsMemory(0, 8), cancellationToken).ConfigureAwait(false);
                await SendAsync(stream, (ulong)uploadBytes, buffer, progress, start, cancellationToken).ConfigureAwait(false);
                await stream.CompleteWritesAsync(cancellationToken).ConfigureAwait(false);
                var upload = Stopwatch.GetElapsedTime(start);
                long received = 0;
                int n;
                while ((n = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    received += n;
                    progress?.Report(new PerfProgress(uploadBytes, received, Stopwatch.GetElapsedTime(start)));
                }
                var total = Stopwatch.GetElapsedTime(start);
                if (received != downloadBytes)
                {
                    throw new IOException($"The perf server sent {received} bytes, not the {downloadBytes} requested.");
                }
                return new PerfResult(uploadBytes, received, upload, total - upload, total);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private static async Task SendAsync(P2PStream stream, ulong count, byte[] buffer, IProgress<PerfProgress>? progress, long start, CancellationToken cancellationToken)
    {
        Array.Clear(buffer, 0, BlockSize);
        long sent = 0;
        while (count > 0)
        {
            int chunk = (int)Math.Min(count, (ulong)BlockSize);
            await stream.WriteAsync(buffer.AsMemory(0, chunk), cancellationToken).ConfigureAwait(false);
            count -= (ulong)chunk;
            sent += chunk;
            progress?.Report(new PerfProgress(sent, 0, Stopwatch.GetElapsedTime(start)));
        }
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }
}
