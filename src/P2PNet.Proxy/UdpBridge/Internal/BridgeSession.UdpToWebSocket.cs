using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using System.Net.WebSockets;

namespace P2PNet.Proxy.UdpBridge.Internal;

/// <summary>The writer half: UDP datagrams → browser messages, and finally the close frame.</summary>
internal sealed partial class BridgeSession
{
    /// <summary>Relays inbound datagrams until a close is requested, then sends the close frame.</summary>
    private async Task RunUdpToWebSocketAsync()
    {
        CancellationToken closing = _closing.Token;
        int maxDatagram = _bridge.MaxDatagramSize;
        try
        {
            bool queued = false;
            while (true)
            {
                if (!queued && _transport is not null)
                {
                    // Nothing more waiting: send what a burst left buffered before waiting.
                    _transport.DeferFlush = false;
                    await _transport.FlushDeferredAsync(CancellationToken.None).ConfigureAwait(false);
                }

                try
                {
                    // Zero-byte peek: wait for a datagram without holding a buffer (MSG_PEEK leaves it queued).
                    // Skipped while datagrams are known to be queued, which saves a system call per datagram under load.
                    if (!queued)
                    {
                        await _udp.ReceiveFromAsync(Memory<byte>.Empty, SocketFlags.Peek, _receiveAddress, closing)
                            .ConfigureAwait(false);
                    }
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.MessageSize or SocketError.ConnectionReset)
                {
                    // MessageSize: some platforms report a peek into no buffer as truncation; the datagram is there.
                    // ConnectionReset: an ICMP error for an earlier send (Windows); nothing to relay, keep waiting.
                    if (e.SocketErrorCode == SocketError.ConnectionReset)
                    {
                        continue;
                    }
                }

                // One byte of headroom past the maximum tells an oversize datagram from a maximal one.
                byte[] buffer = ArrayPool<byte>.Shared.Rent(UdpBridgeFrame.MaxHeaderLength + maxDatagram + 1);
                try
                {
                    int received;
                    try
                    {
                        received = await _udp.ReceiveFromAsync(
                                buffer.AsMemory(UdpBridgeFrame.MaxHeaderLength, maxDatagram + 1), SocketFlags.None, _receiveAddress, closing)
                            .ConfigureAwait(false);
                    }
                    catch (SocketException e) when (e.SocketErrorCode is SocketError.MessageSize or SocketError.ConnectionReset)
                    {
                        Drop(RelayDirection.ToWebSocket, e.SocketErrorCode == SocketError.MessageSize ? DropReason.Oversize : DropReason.SendFailed);
                        queued = false;
                        continue;
                    }

                    // Another datagram already waiting means this frame need not be flushed on its own.
                    queued = _udp.Available > 0;
                    int frameStart = PrepareFrame(buffer, received);
                    if (frameStart >= 0)
                    {
                        if (_transport is not null)
                        {
                            _transport.DeferFlush = queued;
                        }

                        int frameLength = UdpBridgeFrame.MaxHeaderLength + received - frameStart;
                        await _webSocket.SendAsync(
                                buffer.AsMemory(frameStart, frameLength), WebSocketMessageType.Binary, WebSocketMessageFlags.EndOfMessage, CancellationToken.None)
                            .ConfigureAwait(false);
                        _bridge.Metrics.Relayed(RelayDirection.ToWebSocket, received);
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        catch (OperationCanceledException) when (closing.IsCancellationRequested)
        {
            // A close was requested: fall through to send it.
        }
        catch (SocketException e)
        {
            _bridge.Logger.UdpFailed(Id, e);
            RequestClose(UdpBridgeCloseStatus.BridgeError, "the bridge's UDP socket failed", "udp_error");
        }
        catch (Exception e) when (IsConnectionFailure(e))
        {
            // The websocket broke while sending; the reader will see it too.
            Abort();
            return;
        }

        await SendCloseAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Checks an inbound datagram (size, source policy, rate) and writes the frame header in front of its payload.
    /// </summary>
    /// <returns>The offset where the frame starts, or -1 when the datagram is dropped.</returns>
    private int PrepareFrame(byte[] buffer, int received)
    {
        if (received > _bridge.MaxDatagramSize)
        {
            Drop(RelayDirection.ToWebSocket, DropReason.Oversize);
            return -1;
        }

        ReadOnlySpan<byte> raw = _receiveAddress.Buffer.Span;
        ushort port = BinaryPrimitives.ReadUInt16BigEndian(raw.Slice(2, 2));
        ReadOnlySpan<byte> address = _receiveAddress.Family == AddressFamily.InterNetwork ? raw.Slice(4, 4) : raw.Slice(8, 16);
        if (IsIPv4Mapped(address))
        {
            // An IPv4 peer reaching the dual-mode socket: the browser sees it as the IPv4 address it is.
            address = address[12..];
        }

        if (!_bridge.Policy.IsAllowed(address))
        {
            Drop(RelayDirection.ToWebSocket, DropReason.SourceRefused);
            return -1;
        }

        long now = _bridge.TimeProvider.GetTimestamp();
        if (!TryTake(ref _toWebSocketDatagrams, ref _toWebSocketBytes, received, _bridge, now))
        {
            Drop(RelayDirection.ToWebSocket, DropReason.RateLimited);
            return -1;
        }

        Touch(now);
        int headerLength = UdpBridgeFrame.GetHeaderLength(address.Length);
        int frameStart = UdpBridgeFrame.MaxHeaderLength - headerLength;
        UdpBridgeFrame.WriteHeader(buffer.AsSpan(frameStart, headerLength), address, port);
        return frameStart;
    }

    private async Task SendCloseAsync()
    {
        if (Volatile.Read(ref _closeState) == 2)
        {
            return;
        }

        if (_transport is not null)
        {
            _transport.DeferFlush = false;
        }

        try
        {
            // After the browser's own close this completes the handshake; otherwise the reader drains until the browser
            // answers, and the sweeper aborts the session if it never does.
            await _webSocket.CloseOutputAsync(_closeStatus, _closeDescription, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (IsConnectionFailure(e))
        {
            Abort();
        }
    }
}
