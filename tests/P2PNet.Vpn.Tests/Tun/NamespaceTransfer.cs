using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using P2PNet.Testing.Networking;

namespace P2PNet.Vpn.Tests;

/// <summary>A bulk TCP transfer between two network namespaces over sockets created in them
/// (<see cref="NamespaceLab.CreateSocket"/>), checked end to end by hash.</summary>
internal static class NamespaceTransfer
{
    /// <summary>Sends <paramref name="length"/> pseudo-random bytes over TCP from namespace <paramref name="fromNs"/> to
    /// <paramref name="to"/>:<paramref name="port"/> (a listener in <paramref name="toNs"/>); returns the SHA-256 of what
    /// was sent and of what arrived, and how many bytes arrived.</summary>
    public static async Task<(byte[] Sent, byte[] Received, long ReceivedBytes)> TransferAsync(string fromNs, string toNs, IPAddress to, int port,
        long length, int seed, CancellationToken ct)
    {
        using var listener = NamespaceLab.CreateSocket(toNs);
        listener.Bind(new IPEndPoint(to, port));
        listener.Listen(1);
        using var client = NamespaceLab.CreateSocket(fromNs);
        var accept = listener.AcceptAsync(ct).AsTask();
        await client.ConnectAsync(new IPEndPoint(to, port), ct);
        using var server = await accept;

        var receive = Task.Run(async () =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[256 * 1024];
            long total = 0;
            int n;
            while ((n = await server.ReceiveAsync(buffer, SocketFlags.None, ct)) > 0)
            {
                hash.AppendData(buffer, 0, n);
                total += n;
            }
            return (hash.GetHashAndReset(), total);
        }, ct);

        using var sentHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var random = new Random(seed);
        var chunk = new byte[1024 * 1024];
        for (long left = length; left > 0; left -= chunk.Length)
        {
            random.NextBytes(chunk);
            int size = (int)Math.Min(chunk.Length, left);
            sentHash.AppendData(chunk, 0, size);
            for (int offset = 0; offset < size;)
            {
                offset += await client.SendAsync(chunk.AsMemory(offset, size - offset), SocketFlags.None, ct);
            }
        }
        client.Shutdown(SocketShutdown.Send);
        var (received, receivedBytes) = await receive;
        return (sentHash.GetHashAndReset(), received, receivedBytes);
    }
}
