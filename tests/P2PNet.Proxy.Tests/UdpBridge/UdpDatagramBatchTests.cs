using System.Net;
using System.Net.Sockets;
using P2PNet.Proxy.UdpBridge.Internal;

namespace P2PNet.Proxy.Tests.UdpBridge;

/// <summary>
/// The bridge's datagram batches on real loopback sockets, with sendmmsg/recvmmsg (where the platform has them) and
/// with the managed fallback.
/// </summary>
public sealed class UdpDatagramBatchTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ReceiveBatch_DrainsQueuedDatagrams_InOrderWithTheirSources(bool useSystemCalls)
    {
        using Socket socket = DualModeSocket();
        using Socket peer = LoopbackSocket();
        var batch = new UdpReceiveBatch(socket, 1000, useSystemCalls);
        AssertPath(useSystemCalls, batch.UsesSystemCalls);
        var target = new IPEndPoint(IPAddress.Loopback, ((IPEndPoint)socket.LocalEndPoint!).Port);

        const int count = 50;
        for (int i = 0; i < count; i++)
        {
            byte[] payload = new byte[i * 20];
            if (payload.Length > 0)
            {
                payload[0] = (byte)i;
            }

            await peer.SendToAsync(payload, target).WaitAsync(BridgeClient.Timeout);
        }

        int collected = 0;
        while (collected < count)
        {
            await WaitForDatagramAsync(socket);
            int received = await batch.ReceiveAsync(CancellationToken.None).AsTask().WaitAsync(BridgeClient.Timeout);
            Assert.InRange(received, 1, batch.Slots);
            for (int slot = 0; slot < received; slot++, collected++)
            {
                Assert.Equal(collected * 20, batch.Length(slot));
                if (collected > 0)
                {
                    Assert.Equal((byte)collected, batch.Buffer[batch.PayloadOffset(slot)]);
                }

                // A dual-mode socket names an IPv4 peer as ::ffff:127.0.0.1 in a sockaddr_in6.
                ReadOnlySpan<byte> source = batch.Source(slot);
                Assert.Equal(((IPEndPoint)peer.LocalEndPoint!).Port, (source[2] << 8) | source[3]);
                Assert.Equal(IPAddress.Loopback.MapToIPv6().GetAddressBytes(), source.Slice(8, 16).ToArray());
            }

            batch.Release();
        }

        // The path asked for is the one that ran.
        Assert.Equal(useSystemCalls, batch.SystemCallReceives > 0);
        Assert.Equal(!useSystemCalls, batch.ManagedReceives > 0);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ReceiveBatch_OversizeDatagram_ReadsAsOneByteOverTheMaximum(bool useSystemCalls)
    {
        using Socket socket = DualModeSocket();
        using Socket peer = LoopbackSocket();
        var batch = new UdpReceiveBatch(socket, 100, useSystemCalls);
        AssertPath(useSystemCalls, batch.UsesSystemCalls);
        var target = new IPEndPoint(IPAddress.Loopback, ((IPEndPoint)socket.LocalEndPoint!).Port);
        await peer.SendToAsync(new byte[500], target).WaitAsync(BridgeClient.Timeout);
        await peer.SendToAsync(new byte[100], target).WaitAsync(BridgeClient.Timeout);

        var lengths = new List<int>();
        while (lengths.Count < 2)
        {
            await WaitForDatagramAsync(socket);
            int received = await batch.ReceiveAsync(CancellationToken.None).AsTask().WaitAsync(BridgeClient.Timeout);
            for (int slot = 0; slot < received; slot++)
            {
                lengths.Add(batch.Length(slot));
            }

            batch.Release();
        }

        Assert.Equal([101, 100], lengths);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task SendBatch_DeliversEveryDatagramToItsDestination_InOrder(bool useSystemCalls)
    {
        using Socket socket = LoopbackSocket();
        using Socket first = LoopbackSocket();
        using Socket second = LoopbackSocket();
        const int limit = 200;
        var batch = new UdpSendBatch(socket, limit, useSystemCalls);
        AssertPath(useSystemCalls, batch.UsesSystemCalls);

        const int count = 20;
        for (int i = 0; i < count; i++)
        {
            Assert.False(batch.IsFull);
            Memory<byte> message = batch.NextMessageBuffer();
            Assert.Equal(limit, message.Length);

            // A message with a 7-byte "header" the batch skips, then the payload: its index, repeated.
            message.Span[..7].Fill(0xee);
            message.Span.Slice(7, i + 1).Fill((byte)i);
            SocketAddress destination = ((i % 2 == 0) ? first : second).LocalEndPoint!.Serialize();
            destination.Buffer.Span[..destination.Size].CopyTo(batch.NextAddress());
            batch.Add(7, i + 1);
        }

        Assert.Equal(count, batch.Pending);
        long sentBytes = 0;
        while (batch.Pending > 0)
        {
            if (batch.UsesSystemCalls)
            {
                int sent = batch.TrySend(out long bytes, out SocketError error);
                Assert.True(sent > 0, $"sendmmsg sent nothing: {error}");
                sentBytes += bytes;
            }
            else
            {
                sentBytes += await batch.SendFirstAsync().AsTask().WaitAsync(BridgeClient.Timeout);
            }
        }

        batch.Clear(release: true);
        Assert.Equal(Enumerable.Range(1, count).Sum(), sentBytes);
        Assert.Equal(useSystemCalls ? count : 0, batch.SystemCallSends);
        Assert.Equal(useSystemCalls ? 0 : count, batch.ManagedSends);

        byte[] buffer = new byte[limit];
        for (int i = 0; i < count; i++)
        {
            Socket receiver = i % 2 == 0 ? first : second;
            int n = await receiver.ReceiveAsync(buffer.AsMemory()).AsTask().WaitAsync(BridgeClient.Timeout);
            Assert.Equal(i + 1, n);
            Assert.All(buffer[..n], b => Assert.Equal((byte)i, b));
        }
    }

    [Fact]
    public void SendBatch_IsFull_AfterTheMostDatagramsOneCallTakes()
    {
        using Socket socket = LoopbackSocket();
        var batch = new UdpSendBatch(socket, 100, useSystemCalls: true);
        for (int i = 0; i < UdpSendBatch.MaxDatagrams; i++)
        {
            Assert.False(batch.IsFull);
            batch.NextMessageBuffer();
            batch.NextAddress();
            batch.Add(0, 1);
        }

        Assert.True(batch.IsFull);
        batch.Clear(release: true);
        Assert.False(batch.IsFull);
        Assert.Equal(0, batch.Pending);
    }

    /// <summary>
    /// The batched case must run the batched path: on a platform without sendmmsg/recvmmsg it fails rather than
    /// passing silently on the managed fallback.
    /// </summary>
    internal static void AssertPath(bool useSystemCalls, bool usesSystemCalls) =>
        Assert.True(useSystemCalls == usesSystemCalls,
            useSystemCalls
                ? $"The batched path was asked for but the managed fallback runs (sendmmsg/recvmmsg supported: {LinuxDatagrams.IsSupported})."
                : "The managed path was asked for but the batched one runs.");

    private static Socket DualModeSocket()
    {
        var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp) { DualMode = true };
        socket.Bind(new IPEndPoint(IPAddress.IPv6Any, 0));
        return socket;
    }

    private static Socket LoopbackSocket()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return socket;
    }

    /// <summary>Waits, as the bridge does, until a datagram is queued (a peek leaves it there).</summary>
    private static async Task WaitForDatagramAsync(Socket socket)
    {
        try
        {
            await socket.ReceiveFromAsync(new byte[1], SocketFlags.Peek, new SocketAddress(socket.AddressFamily)).AsTask().WaitAsync(BridgeClient.Timeout);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.MessageSize)
        {
            // A datagram longer than the one-byte peek: it is there.
        }
    }
}
