using System.Buffers;
using System.Diagnostics;
using System.Security.Cryptography;
using P2PNet.Host;

namespace P2PNet.Protocols.Ping;

/// <summary>
/// <c>/ipfs/ping/1.0.0</c> (libp2p/specs ping/ping.md): the dialer sends 32 random bytes, the listener echoes them;
/// repeatable on one stream.
/// </summary>
public static class PingProtocol
{
    /// <summary>The protocol id.</summary>
    public const string Id = "/ipfs/ping/1.0.0";

    /// <summary>Bytes in one ping.</summary>
    public const int PayloadSize = 32;

    /// <summary>Echoes 32-byte pings until the remote closes its side.</summary>
    public static async Task HandleAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        byte[] buffer = new byte[PayloadSize];
        while (true)
        {
            int read = await stream.ReadAtLeastAsync(buffer, PayloadSize, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            if (read < PayloadSize)
            {
                break; // end of stream (a partial ping is dropped)
            }
            await stream.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        await stream.CompleteWritesAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sends <paramref name="count"/> pings on one stream and returns each round trip time.</summary>
    /// <exception cref="IOException">The peer closed the stream or echoed different bytes.</exception>
    public static async IAsyncEnumerable<TimeSpan> PingAsync(P2PConnection connection, int count,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        var stream = await connection.OpenStreamAsync(Id, cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            byte[] sent = new byte[PayloadSize];
            byte[] received = new byte[PayloadSize];
            for (int i = 0; i < count; i++)
            {
                RandomNumberGenerator.Fill(sent);
                long start = Stopwatch.GetTimestamp();
                await stream.WriteAsync(sent, cancellationToken).ConfigureAwait(false);
                await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
                int read = await stream.ReadAtLeastAsync(received, PayloadSize, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
                var rtt = Stopwatch.GetElapsedTime(start);
                if (read < PayloadSize)
                {
                    throw new IOException($"{connection.RemotePeer} closed the ping stream.");
                }
                if (!sent.AsSpan().SequenceEqual(received))
                {
                    throw new IOException($"{connection.RemotePeer} answered the ping with different bytes.");
                }
                yield return rtt;
            }
            await stream.CompleteWritesAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
