using P2PNet.Transports;

namespace P2PNet.Core.Tests.Conformance.Transport;

/// <summary>
/// The contract of a <see cref="TransportConnection"/>, which every transport (and every wrapper of one, such as pnet)
/// passes: bytes arrive intact and in order both ways at once, completing the output half-closes, abort ends the remote.
/// </summary>
public abstract class TransportConformanceTests
{
    private static readonly TimeSpan Timeout = ConnectedPair.Timeout;

    private protected abstract Task<ConnectedPair> ConnectAsync();

    [Fact]
    public async Task SmallMessages_EachWay_ArriveInOrder()
    {
        await using var pair = await ConnectAsync();
        await ConnectedPair.WriteAsync(pair.Client.Output, "hello ");
        await ConnectedPair.WriteAsync(pair.Client.Output, "server");
        Assert.Equal("hello server", await ConnectedPair.ReadExactlyAsync(pair.Server.Input, 12));
        await ConnectedPair.WriteAsync(pair.Server.Output, "hello client");
        Assert.Equal("hello client", await ConnectedPair.ReadExactlyAsync(pair.Client.Input, 12));
    }

    [Fact]
    public async Task LargeTransfers_BothWaysAtOnce_ArriveIntact()
    {
        const int Length = 4 * 1024 * 1024;
        await using var pair = await ConnectAsync();
        var up = ConnectedPair.WriteRandomAsync(pair.Client.Output, Length, seed: 1);
        var down = ConnectedPair.WriteRandomAsync(pair.Server.Output, Length, seed: 2);
        var atServer = ConnectedPair.ReadAllAsync(pair.Server.Input);
        var atClient = ConnectedPair.ReadAllAsync(pair.Client.Input);
        await Task.WhenAll(up, down, atServer, atClient).WaitAsync(Timeout);
        ConnectedPair.AssertReceived(Length, await up, await atServer);
        ConnectedPair.AssertReceived(Length, await down, await atClient);
    }

    [Fact]
    public async Task CompletingTheOutput_EndsTheRemotesInput_WhileTheOtherDirectionStaysOpen()
    {
        await using var pair = await ConnectAsync();
        await ConnectedPair.WriteAsync(pair.Client.Output, "last");
        await pair.Client.Output.CompleteAsync().AsTask().WaitAsync(Timeout);
        var (length, _) = await ConnectedPair.ReadAllAsync(pair.Server.Input);
        Assert.Equal(4, length);
        await ConnectedPair.WriteAsync(pair.Server.Output, "reply");
        Assert.Equal("reply", await ConnectedPair.ReadExactlyAsync(pair.Client.Input, 5));
    }

    [Fact]
    public async Task Abort_EndsTheRemotesInput()
    {
        await using var pair = await ConnectAsync();
        await ConnectedPair.WriteAsync(pair.Client.Output, "x");
        Assert.Equal("x", await ConnectedPair.ReadExactlyAsync(pair.Server.Input, 1));
        pair.Client.Abort();
        // The remote learns: its read ends, as end of stream or as an I/O error, never hangs.
        try
        {
            await ConnectedPair.ReadAllAsync(pair.Server.Input);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    [Fact]
    public async Task Counters_CountTheBytesOnTheWire()
    {
        await using var pair = await ConnectAsync();
        await ConnectedPair.WriteAsync(pair.Client.Output, new string('a', 1000));
        Assert.Equal(1000, (await ConnectedPair.ReadExactlyAsync(pair.Server.Input, 1000)).Length);
        // A transport may count a send once the send call returns, which can be after the remote read it.
        await ConnectedPair.WaitUntilAsync(() => pair.Client.BytesSent >= 1000, "the client counted 1000 bytes sent");
        Assert.True(pair.Server.BytesReceived >= 1000, $"received {pair.Server.BytesReceived}");
    }
}

/// <summary>TCP passes the transport contract.</summary>
public sealed class TcpTransportConformanceTests : TransportConformanceTests
{
    private protected override Task<ConnectedPair> ConnectAsync() => ConnectedPair.TcpAsync();
}

/// <summary>WebSocket (<c>/ws</c>) passes the transport contract.</summary>
public sealed class WebSocketTransportConformanceTests : TransportConformanceTests
{
    private protected override Task<ConnectedPair> ConnectAsync() => ConnectedPair.WebSocketAsync();
}

/// <summary>TCP wrapped in a private network (PSK v1) passes the transport contract.</summary>
public sealed class PnetTcpTransportConformanceTests : TransportConformanceTests
{
    private protected override Task<ConnectedPair> ConnectAsync() => ConnectedPair.PnetTcpAsync();
}
