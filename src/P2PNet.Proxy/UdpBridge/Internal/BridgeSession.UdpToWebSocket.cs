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
        try
        {
            // A full batch means more datagrams may be queued: receive again before flushing or waiting.
            bool queued = false;
            while (true)
            {
                if (!queued)
                {
                    // Nothing more waiting: hold no buffer, and send what the burst left buffered, before waiting.
                    _fromUdp?.Release();
                    if (_transport is not null)
                    {
                        _transport.DeferFlush = false;
                        await _transport.FlushDeferredAsync(CancellationToken.None).ConfigureAwait(false);
                    }

                    try
                    {
                        // Zero-byte peek: wait for a datagram without holding a buffer (MSG_PEEK leaves it queued).
                        await _udp.ReceiveFromAsync(Memory<byte>.Empty, SocketFlags.Peek, _peekAddress, closing).ConfigureAwait(false);
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
                }

                UdpReceiveBatch batch = _fromUdp ??= new UdpReceiveBatch(_udp, _bridge.MaxDatagramSize, _bridge.UseBatchedSystemCalls);
                int received = await batch.ReceiveAsync(closing).ConfigureAwait(false);
                // The managed path's receive waits when nothing is queued, so it only goes round again when the socket
                // says more is there: a full last batch must still be flushed (recvmmsg just returns zero).
                queued = received == batch.Slots && (batch.UsesSystemCalls || _udp.Available > 0);
                if (_transport is not null)
                {
                    // Every frame of the batch goes into the pipe unflushed; one flush sends them all before the wait.
                    _transport.DeferFlush = true;
                }

                int frames = 0;
                long bytes = 0;
                for (int slot = 0; slot < received; slot++)
                {
                    int length = batch.Length(slot);
                    int payloadOffset = batch.PayloadOffset(slot);
                    int frameStart = PrepareFrame(batch.Buffer, payloadOffset, length, batch.Source(slot));
                    if (frameStart >= 0)
                    {
                        await _webSocket.SendAsync(
                                batch.Buffer.AsMemory(frameStart, payloadOffset + length - frameStart), WebSocketMessageType.Binary,
                                WebSocketMessageFlags.EndOfMessage, CancellationToken.None)
                            .ConfigureAwait(false);
                        frames++;
                        bytes += length;
                    }
                }

                if (frames > 0)
                {
                    _bridge.Metrics.Relayed(RelayDirection.ToWebSocket, frames, bytes);
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
            _fromUdp?.Release();
            Abort();
            return;
        }

        _fromUdp?.Release();
        await SendCloseAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Checks an inbound datagram (size, source policy, rate) and writes the frame header in front of its payload.
    /// </summary>
    /// <param name="buffer">The receive buffer; <see cref="UdpBridgeFrame.MaxHeaderLength"/> bytes before the payload are free.</param>
    /// <param name="payloadOffset">Where the payload starts.</param>
    /// <param name="received">The payload length, <see cref="UdpReceiveBatch.Reset"/> for an ICMP error report.</param>
    /// <param name="source">The source socket address (the layout of <see cref="System.Net.SocketAddress.Buffer"/>).</param>
    /// <returns>The offset where the frame starts, or -1 when the datagram is dropped.</returns>
    private int PrepareFrame(byte[] buffer, int payloadOffset, int received, ReadOnlySpan<byte> source)
    {
        if (received == UdpReceiveBatch.Reset)
        {
            Drop(RelayDirection.ToWebSocket, DropReason.SendFailed);
            return -1;
        }

        if (received > _bridge.MaxDatagramSize)
        {
            Drop(RelayDirection.ToWebSocket, DropReason.Oversize);
            return -1;
        }

        ushort port = BinaryPrimitives.ReadUInt16BigEndian(source.Slice(2, 2));
        ReadOnlySpan<byte> address = _udp.AddressFamily == AddressFamily.InterNetwork ? source.Slice(4, 4) : source.Slice(8, 16);
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
        int frameStart = payloadOffset - headerLength;
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
