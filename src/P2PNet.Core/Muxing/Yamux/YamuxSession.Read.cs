using System.Buffers;
using System.IO.Pipelines;

namespace P2PNet.Muxing.Yamux;

// The read loop: ReadAsync → parse frames → AdvanceTo. A Data payload is handed to its stream piece by piece as it
// arrives, so a frame never has to be buffered whole.
internal sealed partial class YamuxSession
{
    // State of the Data frame whose payload is being received; read loop only.
    private YamuxStream? _payloadStream;
    private long _payloadRemaining;
    private YamuxFrameFlags _payloadFlags;
    private bool _payloadInline; // the current payload is small enough to hand to its reader on this thread

    // On a session that delivers inline, a Data frame up to this size wakes its stream's reader on the read loop's
    // thread (a lone packet: a ping, a keystroke, an ACK); a larger one (a bulk transfer) wakes it on the thread pool,
    // so decryption and demultiplexing here overlap with the reader's work there.
    private const int InlinePayloadBytes = 4096;

    /// <summary>Frames received so far; written by the read loop only, read by the keep-alive loop.</summary>
    private long _framesReceived;

    /// <summary>Set by frame handling when the peer ended the session (GoAway with an error code).</summary>
    private Exception? _readStopReason;

    private async Task ReadLoopAsync(CancellationToken cancellationToken)
    {
        await default(ThreadPoolYield);
        PipeReader input = _transport.Input;
        bool processing = false;
        try
        {
            while (true)
            {
                // No token here: shutting down cancels this read with CancelPendingRead (RunAsync), which ends the loop
                // without an exception on every connection's close.
                ReadResult result = await input.ReadAsync(CancellationToken.None).ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    input.AdvanceTo(result.Buffer.Start);
                    if (cancellationToken.IsCancellationRequested)
                    {
                        return; // shutting down
                    }

                    continue;
                }

                ReadOnlySequence<byte> buffer = result.Buffer;
                processing = true;
                try
                {
                    while (ProcessNext(ref buffer, out YamuxFrameHeader? reply))
                    {
                        if (reply is { } frame)
                        {
                            // Replies the peer can trigger at will (pongs, RSTs of refused streams) take a slot of a bounded
                            // budget; a peer that floods us without reading our replies stalls its own reads, not our memory.
                            await _replyBudget.WaitAsync(cancellationToken).ConfigureAwait(false);
                            EnqueueReply(frame, flushed: null, budgeted: true);
                        }

                        if (_readStopReason is not null)
                        {
                            break;
                        }
                    }
                }
                finally
                {
                    input.AdvanceTo(buffer.Start, buffer.End);
                }

                processing = false;
                if (_readStopReason is not null)
                {
                    RequestStop(_readStopReason, goAway: null);
                    return;
                }

                if (result.IsCompleted)
                {
                    if (!buffer.IsEmpty || _payloadRemaining > 0)
                    {
                        YamuxLog.TruncatedFrameAtEnd(Logger, buffer.Length, _payloadRemaining);
                    }

                    YamuxLog.TransportEnded(Logger);
                    RequestStop(null, goAway: null);
                    return;
                }
            }
        }
        catch (WireFormatException ex)
        {
            if (LogLimiter.TryAcquire("yamux.protocol-violation", out long suppressed))
            {
                YamuxLog.ProtocolViolation(Logger, ex, suppressed);
            }

            RequestStop(ex, YamuxGoAwayCode.ProtocolError);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutting down.
        }
#pragma warning disable CA1031 // the loop must end the session whatever went wrong, and record why
        catch (Exception ex)
#pragma warning restore CA1031
        {
            if (processing)
            {
                YamuxLog.InternalError(Logger, ex);
                RequestStop(ex, YamuxGoAwayCode.InternalError);
            }
            else
            {
                YamuxLog.TransportFailed(Logger, ex);
                RequestStop(ex, goAway: null);
            }
        }
    }

    /// <summary><see cref="TryProcessNext"/>; on a session that delivers inline, the stream readers it wakes resume here,
    /// after it (and its locks) are done.</summary>
    private bool ProcessNext(ref ReadOnlySequence<byte> buffer, out YamuxFrameHeader? reply)
    {
        if (!DeliversInline || (_payloadRemaining > 0 && !_payloadInline))
        {
            return TryProcessNext(ref buffer, out reply);
        }
        DeferredInlineScheduler.Enter();
        try
        {
            return TryProcessNext(ref buffer, out reply);
        }
        finally
        {
            DeferredInlineScheduler.Exit();
        }
    }

    /// <summary>
    /// Consumes one frame header, or one piece of the current Data payload, from <paramref name="buffer"/>.
    /// </summary>
    /// <param name="buffer">The unconsumed input; sliced past what was consumed.</param>
    /// <param name="reply">A session frame to send in answer (Ping ACK, RST of a refused stream), if any.</param>
    /// <returns><see langword="false"/> when more input is needed.</returns>
    /// <exception cref="WireFormatException">The peer violated the protocol.</exception>
    private bool TryProcessNext(ref ReadOnlySequence<byte> buffer, out YamuxFrameHeader? reply)
    {
        reply = null;
        if (_payloadRemaining > 0)
        {
            if (buffer.IsEmpty)
            {
                return false;
            }

            ReadOnlySequence<byte> piece = buffer.Slice(0, Math.Min(buffer.Length, _payloadRemaining));
            _payloadStream?.OnData(piece); // no stream: the frame was for a closed or refused stream and is discarded
            buffer = buffer.Slice(piece.End);
            _payloadRemaining -= piece.Length;
            if (_payloadRemaining == 0 && _payloadStream is { } stream)
            {
                _payloadStream = null;
                ApplyCloseFlags(stream, _payloadFlags);
            }

            return true;
        }

        if (!YamuxFrameCodec.TryReadHeader(ref buffer, out YamuxFrameHeader header))
        {
            return false;
        }

        Volatile.Write(ref _framesReceived, _framesReceived + 1);
        switch (header.Type)
        {
            case YamuxFrameType.Data:
            case YamuxFrameType.WindowUpdate:
                reply = OnStreamFrame(header);
                break;
            case YamuxFrameType.Ping:
                reply = OnPing(header);
                break;
            case YamuxFrameType.GoAway:
                OnGoAway(header);
                break;
        }

        return true;
    }

    private YamuxFrameHeader? OnStreamFrame(in YamuxFrameHeader header)
    {
        uint id = header.StreamId;
        if (id == 0)
        {
            throw new WireFormatException($"The peer sent a {header.Type} frame on stream 0, which is reserved for the session.");
        }

        YamuxFrameHeader? reply = null;
        YamuxStream? stream;
        if (header.HasFlag(YamuxFrameFlags.Syn))
        {
            stream = OnInboundSyn(id, out reply);
        }
        else
        {
            lock (_sync)
            {
                _streams.TryGetValue(id, out stream);
            }
        }

        if (header.Type == YamuxFrameType.Data)
        {
            if (stream is not null && !stream.TryReserveReceive(header.Length, out long credit))
            {
                throw new WireFormatException(
                    $"The peer sent {header.Length} bytes on stream {id}, more than the {credit} bytes its window allows.");
            }

            if (header.Length > 0)
            {
                if (stream is null)
                {
                    YamuxLog.FrameForUnknownStream(Logger, header.Type, id, header.Length);
                }

                // The payload follows; FIN and RST apply after it.
                _payloadStream = stream;
                _payloadRemaining = header.Length;
                _payloadInline = header.Length <= InlinePayloadBytes;
                _payloadFlags = header.Flags;
                if (stream is not null && header.HasFlag(YamuxFrameFlags.Ack))
                {
                    OnAcknowledged(stream);
                }

                return reply;
            }
        }

        if (stream is null)
        {
            // Likely a stream we reset or refused: as go-yamux, ignore it.
            YamuxLog.FrameForUnknownStream(Logger, header.Type, id, header.Length);
            return reply;
        }

        if (header.HasFlag(YamuxFrameFlags.Ack))
        {
            OnAcknowledged(stream);
        }

        if (header.Type == YamuxFrameType.WindowUpdate)
        {
            stream.OnWindowUpdate(header.Length);
        }

        ApplyCloseFlags(stream, header.Flags);
        return reply;
    }

    private static void ApplyCloseFlags(YamuxStream stream, YamuxFrameFlags flags)
    {
        if ((flags & YamuxFrameFlags.Rst) != 0)
        {
            stream.OnRemoteReset();
        }
        else if ((flags & YamuxFrameFlags.Fin) != 0)
        {
            stream.OnRemoteFin();
        }
    }

    /// <summary>A SYN: registers the peer's new stream, or refuses it with RST when over a limit.</summary>
    private YamuxStream? OnInboundSyn(uint id, out YamuxFrameHeader? reply)
    {
        reply = null;

        // Spec: "The client side should use odd ID's, and the server even."
        if ((id % 2 == 1) == _isClient)
        {
            throw new WireFormatException(
                $"The peer opened stream {id}, but {(_isClient ? "odd" : "even")} ids belong to this side; are both sides {(_isClient ? "clients" : "servers")}?");
        }

        YamuxStream? stream = null;
        string? refusal = null;
        lock (_sync)
        {
            if (_streams.ContainsKey(id))
            {
                throw new WireFormatException($"The peer opened stream {id}, which is already open.");
            }

            if (_goingAway)
            {
                refusal = "the session is closing";
            }
            else if (_inboundCount >= Options.MaxConcurrentStreams)
            {
                refusal = $"{_inboundCount} inbound streams are open, the most allowed";
            }
            else if (_acceptBacklog >= Options.MaxUnacknowledgedInboundStreams)
            {
                refusal = $"{_acceptBacklog} inbound streams wait to be accepted, the most allowed";
            }
            else if (!TryReserveStream(outbound: false, out P2PNet.Resources.ResourceLimitExceededException? overBudget))
            {
                refusal = overBudget!.Message;
            }

            if (refusal is null)
            {
                stream = new YamuxStream(this, id, isOutbound: false) { InAcceptBacklog = true };
                _streams.Add(id, stream);
                _inboundCount++;
                _acceptBacklog++;
            }
        }

        if (refusal is not null)
        {
            if (Logger.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Debug) && LogLimiter.TryAcquire("yamux.stream-refused", out long suppressed))
            {
                YamuxLog.InboundStreamRefused(Logger, id, refusal, suppressed);
            }

            reply = new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Rst, id, 0);
            return null;
        }

        YamuxLog.InboundStream(Logger, id);
        _acceptQueue.TryWrite(stream!);
        return stream;
    }

    private void OnGoAway(in YamuxFrameHeader header)
    {
        var code = (YamuxGoAwayCode)header.Length;
        YamuxLog.RemoteGoAway(Logger, header.Length);
        if (code == YamuxGoAwayCode.Normal)
        {
            // No new outbound streams; existing ones continue.
            TaskCompletionSource? waiters;
            lock (_sync)
            {
                _remoteGoAway = true;
                waiters = _capacityChanged;
                _capacityChanged = null;
            }

            waiters?.TrySetResult();
            return;
        }

        // The peer is tearing the session down because of an error; as go-yamux, end it here too.
        _readStopReason = new IOException(
            code == YamuxGoAwayCode.ProtocolError ? "The peer closed the yamux session reporting a protocol error on our side."
            : code == YamuxGoAwayCode.InternalError ? "The peer closed the yamux session reporting an internal error."
            : $"The peer closed the yamux session with unknown GoAway code {header.Length}.");
    }
}
