using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;

namespace P2PNet.Proxy.UdpBridge.Internal;

/// <summary>The reader half: browser messages → UDP datagrams.</summary>
internal sealed partial class BridgeSession
{
    /// <summary>Receives datagram frames until the browser's close arrives or the connection breaks.</summary>
    private async Task RunWebSocketToUdpAsync()
    {
        // A message longer than this cannot be a valid frame; reading one byte past the longest valid frame is enough
        // to tell "too big" from "exactly the maximum".
        int limit = UdpBridgeFrame.MaxHeaderLength + _bridge.MaxDatagramSize + 1;
        try
        {
            while (true)
            {
                // Zero-byte read: wait for the next message without holding a buffer.
                ValueWebSocketReceiveResult result = await _webSocket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None)
                    .ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    RequestClose(
                        _webSocket.CloseStatus ?? UdpBridgeCloseStatus.Normal,
                        _webSocket.CloseStatusDescription ?? string.Empty,
                        "client");
                    return;
                }

                WebSocketMessageType type = result.MessageType;
                byte[] buffer = ArrayPool<byte>.Shared.Rent(limit);
                try
                {
                    int length = 0;
                    bool endOfMessage = result.EndOfMessage;
                    while (!endOfMessage && length < limit)
                    {
                        result = await _webSocket.ReceiveAsync(buffer.AsMemory(length, limit - length), CancellationToken.None)
                            .ConfigureAwait(false);
                        length += result.Count;
                        endOfMessage = result.EndOfMessage;
                    }

                    if (IsClosing)
                    {
                        // Draining until the browser answers our close: nothing more is relayed.
                        continue;
                    }

                    if (type != WebSocketMessageType.Binary)
                    {
                        CloseMalformed(UdpBridgeCloseStatus.TextMessage, "text message: only binary datagram frames are accepted", "text");
                    }
                    else if (!endOfMessage)
                    {
                        CloseMalformed(UdpBridgeCloseStatus.TooBig,
                            $"message too big: a frame carries at most {_bridge.MaxDatagramSize} payload bytes", "oversize");
                    }
                    else
                    {
                        await RelayToUdpAsync(buffer, length).ConfigureAwait(false);
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        catch (Exception e) when (IsConnectionFailure(e))
        {
            if (!IsClosing)
            {
                _bridge.Logger.ConnectionLost(Id, e);
            }

            // Nobody will answer a close frame on a broken connection.
            Abort();
        }
    }

    /// <summary>Checks one frame against the contract, the policy and the rate limits, then sends it.</summary>
    private ValueTask RelayToUdpAsync(byte[] buffer, int length)
    {
        UdpBridgeFrame frame;
        try
        {
            frame = UdpBridgeFrame.Read(buffer.AsSpan(0, length));
        }
        catch (WireFormatException e)
        {
            CloseMalformed(UdpBridgeCloseStatus.Malformed, e.Message, "malformed");
            return default;
        }

        int payloadLength = frame.Payload.Length;
        if (payloadLength > _bridge.MaxDatagramSize)
        {
            CloseMalformed(UdpBridgeCloseStatus.TooBig,
                $"datagram too big: {payloadLength} payload bytes, the maximum is {_bridge.MaxDatagramSize}", "oversize");
            return default;
        }

        if (frame.Port == 0 || !_bridge.Policy.IsAllowed(frame.Address))
        {
            Drop(RelayDirection.ToUdp, DropReason.DestinationRefused);
            return default;
        }

        long now = _bridge.TimeProvider.GetTimestamp();
        if (!TryTake(ref _toUdpDatagrams, ref _toUdpBytes, payloadLength, _bridge, now))
        {
            Drop(RelayDirection.ToUdp, DropReason.RateLimited);
            return default;
        }

        Touch(now);

        SocketAddress? destination = WriteDestination(frame.Address, frame.Port);
        if (destination is null)
        {
            Drop(RelayDirection.ToUdp, DropReason.Unreachable);
            return default;
        }

        return SendToAsync(buffer.AsMemory(frame.HeaderLength, payloadLength), destination);
    }

    private async ValueTask SendToAsync(ReadOnlyMemory<byte> payload, SocketAddress destination)
    {
        try
        {
            await _udp.SendToAsync(payload, SocketFlags.None, destination, CancellationToken.None).ConfigureAwait(false);
            _bridge.Metrics.Relayed(RelayDirection.ToUdp, payload.Length);
        }
        catch (SocketException)
        {
            // Unreachable network, no route, ICMP errors surfacing: a lost datagram, not a broken session.
            Drop(RelayDirection.ToUdp, DropReason.SendFailed);
        }
    }

    /// <summary>
    /// Writes the destination into the session's reusable socket address (no allocation per datagram); the port and
    /// address offsets (2 and 4, or 2 and 8 for IPv6) are those of sockaddr_in/sockaddr_in6 on every platform.
    /// </summary>
    /// <returns>The address to send to, or <see langword="null"/> if this socket cannot reach the family.</returns>
    private SocketAddress? WriteDestination(ReadOnlySpan<byte> address, ushort port)
    {
        bool ipv6Socket = _udp.AddressFamily == AddressFamily.InterNetworkV6;
        if (address.Length == 16 && !ipv6Socket)
        {
            if (!IsIPv4Mapped(address))
            {
                return null;
            }

            address = address[12..];
        }

        _sendAddress ??= new SocketAddress(_udp.AddressFamily);
        Span<byte> raw = _sendAddress.Buffer.Span;
        BinaryPrimitives.WriteUInt16BigEndian(raw.Slice(2, 2), port);
        if (!ipv6Socket)
        {
            address.CopyTo(raw.Slice(4, 4));
        }
        else if (address.Length == 16)
        {
            address.CopyTo(raw.Slice(8, 16));
        }
        else
        {
            // IPv4 through a dual-mode socket: the IPv4-mapped IPv6 address ::ffff:a.b.c.d.
            raw.Slice(8, 10).Clear();
            raw[18] = 0xff;
            raw[19] = 0xff;
            address.CopyTo(raw.Slice(20, 4));
        }

        return _sendAddress;
    }

    private void CloseMalformed(WebSocketCloseStatus status, string description, string reason)
    {
        _bridge.Logger.Malformed(Id, description);
        RequestClose(status, description, reason);
    }
}
