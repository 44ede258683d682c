using System.Buffers;
using System.Text;
using P2PNet.Transports.WebSockets.Internal;

namespace P2PNet.Core.Tests.WebSockets;

/// <summary>The transport's upgrade and the UDP bridge's handshake are one parser and one builder.</summary>
public sealed class WebSocketUpgradeSharedParserTests
{
    [Fact]
    public void TransportResponse_IsTheBridgeBuildersAccept()
    {
        var writer = new ArrayBufferWriter<byte>();
        WebSocketHandshake.WriteAccept(writer, "dGhlIHNhbXBsZSBub25jZQ==");

        Assert.Equal(writer.WrittenSpan.ToArray(), WebSocketUpgrade.FormatResponse("dGhlIHNhbXBsZSBub25jZQ=="));
        Assert.Contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", Encoding.ASCII.GetString(writer.WrittenSpan), StringComparison.Ordinal);
    }

    [Fact]
    public void TransportParse_HeadLongerThanTheBridgeLimit_IsAcceptedWhenTheListenerAllowedIt()
    {
        // The listener bounds the head by WebSocketTransportOptions.MaxUpgradeRequestSize, which may exceed 8 KiB.
        string head = "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            + "Sec-WebSocket-Version: 13\r\nCookie: " + new string('c', WebSocketHandshake.MaxHeadLength) + "\r\n\r\n";

        Assert.Equal("dGhlIHNhbXBsZSBub25jZQ==", WebSocketUpgrade.ParseRequest(Encoding.ASCII.GetBytes(head)));
        Assert.Throws<RequestHeadTooLargeException>(() => WebSocketHandshake.TryParse(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(head)), out _, out _));
    }
}
