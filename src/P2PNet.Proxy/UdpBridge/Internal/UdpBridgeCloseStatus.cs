using System.Net.WebSockets;
using System.Text;

namespace P2PNet.Proxy.UdpBridge.Internal;

/// <summary>The WebSocket close codes of the wire contract (see docs/bridge.md) and the close-reason text rules.</summary>
internal static class UdpBridgeCloseStatus
{
    /// <summary>1000: the browser closed, or the client was idle for <see cref="UdpBridgeOptions.IdleTimeout"/>.</summary>
    public const WebSocketCloseStatus Normal = WebSocketCloseStatus.NormalClosure;

    /// <summary>1001: the bridge is shutting down.</summary>
    public const WebSocketCloseStatus ShuttingDown = WebSocketCloseStatus.EndpointUnavailable;

    /// <summary>1003: a text message arrived where only binary datagram frames are accepted.</summary>
    public const WebSocketCloseStatus TextMessage = WebSocketCloseStatus.InvalidMessageType;

    /// <summary>1007: a binary message that is not a datagram frame (short header, bad family).</summary>
    public const WebSocketCloseStatus Malformed = WebSocketCloseStatus.InvalidPayloadData;

    /// <summary>1009: a datagram over <see cref="UdpBridgeOptions.MaxDatagramSize"/>.</summary>
    public const WebSocketCloseStatus TooBig = WebSocketCloseStatus.MessageTooBig;

    /// <summary>1011: the bridge failed (its UDP socket could not be opened or broke).</summary>
    public const WebSocketCloseStatus BridgeError = WebSocketCloseStatus.InternalServerError;

    /// <summary>1013 (try again later): the bridge already serves <see cref="UdpBridgeOptions.MaxClients"/> clients.</summary>
    public const WebSocketCloseStatus Full = (WebSocketCloseStatus)1013;

    /// <summary>RFC 6455 §5.5: a control frame's payload is at most 125 bytes, two of which carry the code.</summary>
    public const int MaxDescriptionBytes = 123;

    /// <summary>Shortens <paramref name="description"/> to fit a close frame without splitting a character.</summary>
    public static string Fit(string description)
    {
        if (Encoding.UTF8.GetByteCount(description) <= MaxDescriptionBytes)
        {
            return description;
        }

        int length = Math.Min(description.Length, MaxDescriptionBytes);
        while (length > 0 && Encoding.UTF8.GetByteCount(description.AsSpan(0, length)) > MaxDescriptionBytes - 3)
        {
            length--;
        }

        if (length > 0 && char.IsHighSurrogate(description[length - 1]))
        {
            length--;
        }

        return string.Concat(description.AsSpan(0, length), "...");
    }
}
