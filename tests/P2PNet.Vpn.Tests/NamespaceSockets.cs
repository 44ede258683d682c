using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace P2PNet.Vpn.Tests;

/// <summary>TCP sockets that live in a network namespace: created on a short-lived thread that enters the namespace
/// (setns(2)) just for the socket(2) call — a socket keeps the namespace it was created in — then used from the test.</summary>
internal static partial class NamespaceSockets
{
    private const int CloneNewNet = 0x40000000;

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNs(int fd, int nsType);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    public static Socket Create(string ns, SocketType type = SocketType.Stream, ProtocolType protocol = ProtocolType.Tcp) =>
        RunIn(ns, () => new Socket(AddressFamily.InterNetwork, type, protocol));

    /// <summary>Runs <paramref name="create"/> on a thread inside network namespace <paramref name="ns"/> (sockets and TUN
    /// devices it creates belong to that namespace).</summary>
    public static T RunIn<T>(string ns, Func<T> create)
        where T : class
    {
        T? created = null;
        Exception? failure = null;
        string? error = null;
        var thread = new Thread(() =>
        {
            int own = Open("/proc/thread-self/ns/net", 0);
            int target = Open($"/var/run/netns/{ns}", 0);
            try
            {
                if (own < 0 || target < 0 || SetNs(target, CloneNewNet) != 0)
                {
                    error = $"cannot enter network namespace {ns}: errno {Marshal.GetLastPInvokeError()}";
                    return;
                }
                try
                {
                    created = create();
                }
#pragma warning disable CA1031 // rethrown on the calling thread
                catch (Exception e)
#pragma warning restore CA1031
                {
                    failure = e;
                }
                if (SetNs(own, CloneNewNet) != 0)
                {
                    error = "cannot return to the test's network namespace";
                }
            }
            finally
            {
                _ = Close(own);
                _ = Close(target);
            }
        });
        thread.Start();
        thread.Join();
        if (failure is not null)
        {
            throw new InvalidOperationException($"Failed inside network namespace {ns}: {failure.Message}", failure);
        }
        if (error is not null)
        {
            (created as IDisposable)?.Dispose();
            throw new InvalidOperationException(error);
        }
        return created!;
    }

    /// <summary>Sends <paramref name="length"/> pseudo-random bytes over TCP from namespace <paramref name="fromNs"/> to
    /// <paramref name="to"/>:<paramref name="port"/> (a listener in <paramref name="toNs"/>); returns the SHA-256 of what
    /// was sent and of what arrived, and how many bytes arrived.</summary>
    public static async Task<(byte[] Sent, byte[] Received, long ReceivedBytes)> TransferAsync(string fromNs, string toNs, IPAddress to, int port,
        long length, int seed, CancellationToken ct)
    {
        using var listener = Create(toNs);
        listener.Bind(new IPEndPoint(to, port));
        listener.Listen(1);
        using var client = Create(fromNs);
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
