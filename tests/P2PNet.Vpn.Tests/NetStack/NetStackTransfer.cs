using System.Net.Sockets;
using System.Security.Cryptography;
using P2PNet.Vpn.NetStack;

namespace P2PNet.Vpn.Tests.NetStack;

/// <summary>Seeded pseudo-random payloads sent and hashed on either end (kernel socket or stack connection).</summary>
internal static class NetStackTransfer
{
    public static async Task<byte[]> SendAsync(Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> write, long length, int seed, CancellationToken ct)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var random = new Random(seed);
        var chunk = new byte[256 * 1024];
        for (long left = length; left > 0;)
        {
            int size = (int)Math.Min(chunk.Length, left);
            random.NextBytes(chunk.AsSpan(0, size));
            hash.AppendData(chunk, 0, size);
            await write(chunk.AsMemory(0, size), ct);
            left -= size;
        }
        return hash.GetHashAndReset();
    }

    public static async Task<(byte[] Hash, long Length)> ReceiveAsync(Func<Memory<byte>, CancellationToken, ValueTask<int>> read, CancellationToken ct)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[256 * 1024];
        long total = 0;
        int n;
        while ((n = await read(buffer, ct)) > 0)
        {
            hash.AppendData(buffer, 0, n);
            total += n;
        }
        return (hash.GetHashAndReset(), total);
    }

    public static Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> Writer(Socket socket) => async (data, ct) =>
    {
        while (!data.IsEmpty)
        {
            int n = await socket.SendAsync(data, SocketFlags.None, ct);
            data = data[n..];
        }
    };

    public static Func<Memory<byte>, CancellationToken, ValueTask<int>> Reader(Socket socket) =>
        (buffer, ct) => socket.ReceiveAsync(buffer, SocketFlags.None, ct);

    public static Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> Writer(TcpConnection connection) => connection.WriteAsync;

    public static Func<Memory<byte>, CancellationToken, ValueTask<int>> Reader(TcpConnection connection) => connection.ReadAsync;

    /// <summary>Kernel → stack and stack → kernel at once over one connection pair; asserts both arrive intact.</summary>
    public static async Task BothWaysAsync(Socket kernel, TcpConnection stack, long length, CancellationToken ct)
    {
        var toStack = Task.Run(async () =>
        {
            byte[] sent = await SendAsync(Writer(kernel), length, 1, ct);
            kernel.Shutdown(SocketShutdown.Send);
            return sent;
        }, ct);
        var atStack = Task.Run(() => ReceiveAsync(Reader(stack), ct), ct);
        var toKernel = Task.Run(async () =>
        {
            byte[] sent = await SendAsync(Writer(stack), length, 2, ct);
            stack.CompleteWrites();
            return sent;
        }, ct);
        var atKernel = Task.Run(() => ReceiveAsync(Reader(kernel), ct), ct);
        await Task.WhenAll(toStack, atStack, toKernel, atKernel).WaitAsync(ct);
        Assert.Equal(length, (await atStack).Length);
        Assert.Equal(await toStack, (await atStack).Hash);
        Assert.Equal(length, (await atKernel).Length);
        Assert.Equal(await toKernel, (await atKernel).Hash);
    }
}
