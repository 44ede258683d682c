using P2PNet.Host;
using P2PNet.Protocols.Echo;

namespace P2PNet.Testing;

/// <summary>The client side of <c>/echo/1.0.0</c> for tests: writes a payload while reading the echo back.</summary>
public static class EchoClient
{
    /// <summary>Opens an echo stream on <paramref name="connection"/>, sends <paramref name="payload"/> in 64 KiB writes,
    /// half-closes, and returns everything echoed until the remote closes.</summary>
    public static async Task<byte[]> EchoAsync(P2PConnection connection, byte[] payload, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(payload);
        await using var stream = await connection.OpenStreamAsync(EchoProtocol.Id, cancellationToken).ConfigureAwait(false);
        var writer = Task.Run(async () =>
        {
            for (int offset = 0; offset < payload.Length; offset += 64 * 1024)
            {
                await stream.WriteAsync(payload.AsMemory(offset, Math.Min(64 * 1024, payload.Length - offset)), cancellationToken).ConfigureAwait(false);
            }
            await stream.CompleteWritesAsync(cancellationToken).ConfigureAwait(false);
        }, cancellationToken);
        using var received = new MemoryStream();
        await stream.CopyToAsync(received, cancellationToken).ConfigureAwait(false);
        await writer.ConfigureAwait(false);
        return received.ToArray();
    }
}
