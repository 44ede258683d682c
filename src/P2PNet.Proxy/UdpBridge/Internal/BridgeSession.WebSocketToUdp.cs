using System.Buffers.Binary;
using System.Net.Sockets;
using System.Net.WebSockets;

namespace P2PNet.Proxy.UdpBridge.Internal;

/// <summary>The reader half: browser messages → UDP datagrams.</summary>
internal sealed partial class BridgeSession
{
    /// <summary>Receives datagram frames until the browser's close arrives or the connection breaks.</summary>
    /// <remarks>
    /// Messages already buffered on the connection (a receive that completes at once) are collected in a
    /// <see cref="UdpSendBatch"/>; the batch is sent whenever the next receive would wait, or when it is full.
    /// </remarks>
    // CA2012: each receive's ValueTask is awaited exactly once; IsCompleted is only looked at first, to send the batch
    // before a receive that has to wait.
#pragma warning disable CA2012
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
                ValueTask<ValueWebSocketReceiveResult> next = _webSocket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None);
                if (!next.IsCompleted && _toUdp is not null)
                {
                    // Nothing more buffered: send the batch and hold no buffer while waiting.
                    await FlushToUdpAsync(release: true).ConfigureAwait(false);
                }

                ValueWebSocketReceiveResult result = await next.ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    RequestClose(
                        _webSocket.CloseStatus ?? UdpBridgeCloseStatus.Normal,
                        _webSocket.CloseStatusDescription ?? string.Empty,
                        "client");
                    return;
                }

                UdpSendBatch batch = _toUdp ??= new UdpSendBatch(_udp, limit, _bridge.UseBatchedSystemCalls);
                if (batch.IsFull)
                {
                    await FlushToUdpAsync(release: false).ConfigureAwait(false);
                }

                WebSocketMessageType type = result.MessageType;
                Memory<byte> message = batch.NextMessageBuffer();
                int length = 0;
                bool endOfMessage = result.EndOfMessage;
                while (!endOfMessage && length < limit)
                {
                    next = _webSocket.ReceiveAsync(message[length..], CancellationToken.None);
                    if (!next.IsCompleted && batch.Pending > 0)
                    {
                        // The rest of this message is not here yet: do not hold earlier datagrams while waiting for it.
                        await FlushToUdpAsync(release: false).ConfigureAwait(false);
                    }

                    result = await next.ConfigureAwait(false);
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
                    AddToUdpBatch(batch, message.Span[..length]);
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
        finally
        {
            // Datagrams accepted before the close or the break still go out, as they would have one by one.
            if (_toUdp is { Pending: > 0 })
            {
                try
                {
                    await FlushToUdpAsync(release: true).ConfigureAwait(false);
                }
                catch (ObjectDisposedException)
                {
                }
            }

            _toUdp?.Clear(release: true);
        }
    }

#pragma warning restore CA2012

    /// <summary>Checks one frame against the contract, the policy and the rate limits, then adds it to the batch.</summary>
    private void AddToUdpBatch(UdpSendBatch batch, ReadOnlySpan<byte> message)
    {
        UdpBridgeFrame frame;
        try
        {
            frame = UdpBridgeFrame.Read(message);
        }
        catch (WireFormatException e)
        {
            CloseMalformed(UdpBridgeCloseStatus.Malformed, e.Message, "malformed");
            return;
        }

        int payloadLength = frame.Payload.Length;
        if (payloadLength > _bridge.MaxDatagramSize)
        {
            CloseMalformed(UdpBridgeCloseStatus.TooBig,
                $"datagram too big: {payloadLength} payload bytes, the maximum is {_bridge.MaxDatagramSize}", "oversize");
            return;
        }

        if (frame.Port == 0 || !_bridge.Policy.IsAllowed(frame.Address))
        {
            Drop(RelayDirection.ToUdp, DropReason.DestinationRefused);
            return;
        }

        long now = _bridge.TimeProvider.GetTimestamp();
        if (!TryTake(ref _toUdpDatagrams, ref _toUdpBytes, payloadLength, _bridge, now))
        {
            Drop(RelayDirection.ToUdp, DropReason.RateLimited);
            return;
        }

        // The address's share, after the client's own: one host cannot multiply its rate by opening more websockets.
        if (!_address.TryTake(payloadLength, _bridge.Options.MaxDatagramsPerSecondPerAddress, _bridge.Options.MaxBytesPerSecondPerAddress,
                now, _bridge.TimeProvider.TimestampFrequency))
        {
            Drop(RelayDirection.ToUdp, DropReason.AddressRateLimited);
            return;
        }

        Touch(now);
        if (!WriteDestination(batch.NextAddress(), frame.Address, frame.Port))
        {
            Drop(RelayDirection.ToUdp, DropReason.Unreachable);
            return;
        }

        batch.Add(frame.HeaderLength, payloadLength);
    }

    /// <summary>
    /// Sends the batched datagrams: as many per system call as the socket takes, waiting through the managed socket
    /// only when its buffer is full. A datagram the operating system refuses is dropped, as a lone send would be.
    /// </summary>
    private async ValueTask FlushToUdpAsync(bool release)
    {
        UdpSendBatch batch = _toUdp!;
        while (batch.Pending > 0)
        {
            SocketError error = SocketError.WouldBlock;
            if (batch.UsesSystemCalls)
            {
                int sent = batch.TrySend(out long bytes, out error);
                if (sent > 0)
                {
                    _bridge.Metrics.Relayed(RelayDirection.ToUdp, sent, bytes);
                    continue;
                }
            }

            if (error == SocketError.WouldBlock)
            {
                try
                {
                    int length = await batch.SendFirstAsync().ConfigureAwait(false);
                    _bridge.Metrics.Relayed(RelayDirection.ToUdp, length);
                }
                catch (SocketException)
                {
                    // Unreachable network, no route, ICMP errors surfacing: a lost datagram, not a broken session.
                    Drop(RelayDirection.ToUdp, DropReason.SendFailed);
                }
            }
            else
            {
                batch.SkipFirst();
                Drop(RelayDirection.ToUdp, DropReason.SendFailed);
            }
        }

        batch.Clear(release);
    }

    /// <summary>
    /// Writes the destination into a socket address preset with the socket's family (no allocation per datagram); the
    /// port and address offsets (2 and 4, or 2 and 8 for IPv6) are those of sockaddr_in/sockaddr_in6 on every platform.
    /// </summary>
    /// <returns><see langword="false"/> if this socket cannot reach the address's family.</returns>
    private bool WriteDestination(Span<byte> raw, ReadOnlySpan<byte> address, ushort port)
    {
        bool ipv6Socket = _udp.AddressFamily == AddressFamily.InterNetworkV6;
        if (address.Length == 16 && !ipv6Socket)
        {
            if (!IsIPv4Mapped(address))
            {
                return false;
            }

            address = address[12..];
        }

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

        return true;
    }

    private void CloseMalformed(WebSocketCloseStatus status, string description, string reason)
    {
        _bridge.Logger.Malformed(Id, description);
        RequestClose(status, description, reason);
    }
}
