using P2PNet.Muxing;
using P2PNet.Muxing.Yamux;

namespace P2PNet.Core.Tests.Muxing;

/// <summary>
/// FIN travels in its own window-update frame, never on a data frame: js-libp2p's yamux applies a data frame's FIN before
/// delivering its payload and drops the payload (docs/performance.md, "Yamux FIN").
/// </summary>
public class YamuxFinFramingTests
{
    [Fact]
    public async Task WriteWithCompleteWrites_SendsDataThenFinInASeparateWindowUpdate()
    {
        TransportPair transport = TestTransports.CreateInMemory();
        var session = new YamuxSession(transport.Listener, isClient: false, new YamuxOptions { KeepAliveInterval = TimeSpan.Zero }, new CapturingLogger());
        await using YamuxSession scope = session;
        session.Start();
        var peer = new RawYamuxPeer(transport.Dialer);
        await peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 1, 0));
        await using MuxedStream stream = await session.AcceptStreamAsync().AsTask().WaitAsync(YamuxTest.Timeout);

        await stream.WriteAsync("hello"u8.ToArray(), completeWrites: true).AsTask().WaitAsync(YamuxTest.Timeout);

        (YamuxFrameHeader data, byte[] payload) = await peer.ReceiveUntilAsync(h => h.Type == YamuxFrameType.Data).WaitAsync(YamuxTest.Timeout);
        Assert.Equal("hello"u8.ToArray(), payload);
        Assert.False(data.HasFlag(YamuxFrameFlags.Fin));
        (YamuxFrameHeader fin, _) = await peer.ReceiveUntilAsync(h => h.HasFlag(YamuxFrameFlags.Fin)).WaitAsync(YamuxTest.Timeout);
        Assert.Equal(YamuxFrameType.WindowUpdate, fin.Type);
        Assert.Equal(1u, fin.StreamId);
        Assert.Equal(0u, fin.Length);
    }
}
