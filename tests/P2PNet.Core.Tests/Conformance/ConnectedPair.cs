using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using P2PNet.Core.Tests.Multistream;
using P2PNet.Multiformats;
using P2PNet.Security.Pnet;
using P2PNet.Transports;
using P2PNet.Transports.Tcp;
using P2PNet.Transports.WebSockets;

namespace P2PNet.Core.Tests.Conformance;

/// <summary>Two connected ends of a real transport and what has to be closed with them.</summary>
internal sealed class ConnectedPair(TransportConnection client, TransportConnection server, IAsyncDisposable? listener) : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TestPipes.Timeout;

    public TransportConnection Client { get; } = client;

    public TransportConnection Server { get; } = server;

    /// <summary>Listens on loopback with <paramref name="transport"/>, dials it and accepts.</summary>
    public static async Task<ConnectedPair> ConnectAsync(ITransport transport, string listenAddress)
    {
        ITransportListener listener = await transport.ListenAsync(Multiaddr.Parse(listenAddress)).AsTask().WaitAsync(Timeout);
        try
        {
            var accepting = listener.AcceptAsync().AsTask();
            TransportConnection client = await transport.DialAsync(listener.LocalAddress).AsTask().WaitAsync(Timeout);
            return new ConnectedPair(client, await accepting.WaitAsync(Timeout), listener);
        }
        catch
        {
            await listener.DisposeAsync();
            throw;
        }
    }

    public static Task<ConnectedPair> TcpAsync() => ConnectAsync(new TcpTransport(), "/ip4/127.0.0.1/tcp/0");

    public static Task<ConnectedPair> WebSocketAsync() => ConnectAsync(new WebSocketTransport(), "/ip4/127.0.0.1/tcp/0/ws");

    /// <summary>TCP with both ends protected by one swarm key (PSK v1), as a host with a private network runs it.</summary>
    public static async Task<ConnectedPair> PnetTcpAsync()
    {
        ConnectedPair tcp = await TcpAsync();
        var key = SwarmKey.Generate();
        var client = PnetConnection.ProtectAsync(tcp.Client, key, [], inbound: false, CancellationToken.None).AsTask();
        var server = PnetConnection.ProtectAsync(tcp.Server, key, [], inbound: true, CancellationToken.None).AsTask();
        await Task.WhenAll(client, server).WaitAsync(Timeout);
        return new ConnectedPair(await client, await server, tcp._listener);
    }

    private readonly IAsyncDisposable? _listener = listener;

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        await Server.DisposeAsync();
        if (_listener is not null)
        {
            await _listener.DisposeAsync();
        }
    }

    /// <summary>Writes <paramref name="length"/> seeded random bytes in chunks of varying size, completes the writer and
    /// returns their SHA-256.</summary>
    public static async Task<byte[]> WriteRandomAsync(PipeWriter writer, int length, int seed)
    {
        var random = new Random(seed);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var chunk = new byte[100_000];
        for (int left = length; left > 0;)
        {
            int size = Math.Min(left, random.Next(1, chunk.Length));
            random.NextBytes(chunk.AsSpan(0, size));
            sha.AppendData(chunk.AsSpan(0, size));
            FlushResult flush = await writer.WriteAsync(chunk.AsMemory(0, size)).AsTask().WaitAsync(Timeout);
            Assert.False(flush.IsCompleted, "The remote stopped reading.");
            left -= size;
        }
        await writer.CompleteAsync().AsTask().WaitAsync(Timeout);
        return sha.GetHashAndReset();
    }

    /// <summary>Reads to the end; the byte count and SHA-256 of what arrived.</summary>
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
                length += segment.Length;
            }
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return (length, sha.GetHashAndReset());
            }
        }
    }

    /// <summary>Waits until <paramref name="condition"/> holds, at most <see cref="Timeout"/>.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        using var deadline = new CancellationTokenSource(Timeout);
        while (!condition())
        {
            try
            {
                await Task.Delay(10, deadline.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"Timed out waiting until {what}.");
            }
        }
    }

    /// <summary>Asserts that what arrived is what was sent.</summary>
    public static void AssertReceived(long length, byte[] hash, (long Length, byte[] Hash) received)
    {
        Assert.Equal(length, received.Length);
        Assert.Equal(hash, received.Hash);
    }

    /// <summary>Writes <paramref name="text"/> and flushes.</summary>
    public static async Task WriteAsync(PipeWriter writer, string text)
    {
        await writer.WriteAsync(System.Text.Encoding.UTF8.GetBytes(text)).AsTask().WaitAsync(Timeout);
    }

    /// <summary>Reads until exactly <paramref name="length"/> bytes arrived and returns them as text.</summary>
    public static async Task<string> ReadExactlyAsync(PipeReader reader, int length)
    {
        while (true)
        {
            ReadResult result = await reader.ReadAsync().AsTask().WaitAsync(Timeout);
            if (result.Buffer.Length >= length)
            {
                string text = System.Text.Encoding.UTF8.GetString(result.Buffer.Slice(0, length).ToArray());
                reader.AdvanceTo(result.Buffer.GetPosition(length));
                return text;
            }
            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            Assert.False(result.IsCompleted, $"The stream ended after {result.Buffer.Length} of {length} bytes.");
        }
    }
}
