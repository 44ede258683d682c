using System.Buffers;
using System.IO.Pipelines;

namespace P2PNet.Muxing.Yamux;

// Send direction: the peer's window and the frames the write loop produces for this stream
// (spec: "Opening a stream", "Closing a stream", "Flow Control").
internal sealed partial class YamuxStream
{
    /// <summary>
    /// Bytes we may still send. Starts at the specification's 256 KiB; the read loop adds each WindowUpdate's delta
    /// (<see cref="Interlocked.Add(ref long, long)"/>), only the write loop subtracts, so it never goes negative.
    /// </summary>
    private long _sendWindow = YamuxOptions.DefaultWindowSize;

    /// <summary>Read loop: the peer granted <paramref name="delta"/> more bytes.</summary>
    internal void OnWindowUpdate(uint delta)
    {
        if (delta == 0)
        {
            return;
        }

        Interlocked.Add(ref _sendWindow, delta);
        _session.Schedule(this); // a writer may be waiting for window; if nothing is buffered this is a cheap no-op turn
    }

    /// <summary>The application flushed data into, or completed, the send pipe.</summary>
    internal void OnSendDataAvailable() => _session.Schedule(this);

    /// <summary>
    /// Write loop: writes this stream's pending frames (RST; SYN/ACK; window update; at most one Data frame of up to
    /// <paramref name="maxFrameSize"/> bytes; FIN) to <paramref name="output"/>, and schedules the stream again if it has
    /// more data it may send, so that streams take turns.
    /// </summary>
    /// <returns>The number of bytes written to <paramref name="output"/>.</returns>
    internal int WriteFrames(PipeWriter output, int maxFrameSize)
    {
        // Cleared before looking at the state: a notification from now on queues the stream again (at worst one idle turn),
        // so no wake-up is lost.
        ClearQueued();

        int written = 0;
        bool more = false;
        bool fullyClosed = false;
        lock (_sync)
        {
            if ((_state & StreamState.RstPending) != 0)
            {
                _state &= ~StreamState.RstPending;
                YamuxFrameCodec.WriteHeader(output, new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Rst, _id, 0));
                return YamuxFrameCodec.HeaderSize;
            }

            if ((_state & (StreamState.Reset | StreamState.SessionClosed)) != 0)
            {
                return 0;
            }

            // The first frame of a stream carries SYN (we opened it) or ACK (we accepted it).
            YamuxFrameFlags openFlags =
                (_state & StreamState.SynPending) != 0 ? YamuxFrameFlags.Syn
                : (_state & StreamState.AckPending) != 0 ? YamuxFrameFlags.Ack
                : YamuxFrameFlags.None;
            // An inbound stream says nothing until the application accepts it.
            bool mayOpen = IsOutbound || (_state & StreamState.Accepted) != 0;

            long delta = (_state & StreamState.FinReceived) == 0 && mayOpen ? _pendingWindowDelta : 0;

            ReadOnlySequence<byte> data = default;
            bool haveData = false;
            bool writerCompleted = false;
            if ((_state & StreamState.FinSent) == 0 && mayOpen && _sendPipe.Reader.TryRead(out ReadResult result))
            {
                haveData = true;
                data = result.Buffer;
                writerCompleted = result.IsCompleted;
            }

            long window = Volatile.Read(ref _sendWindow);
            int length = (int)Math.Min(Math.Min(data.Length, window), maxFrameSize);
            bool fin = writerCompleted && length == data.Length;

            if (delta > 0 || (openFlags != YamuxFrameFlags.None && length == 0 && !fin))
            {
                YamuxFrameCodec.WriteHeader(output, new YamuxFrameHeader(YamuxFrameType.WindowUpdate, openFlags, _id, (uint)delta));
                written += YamuxFrameCodec.HeaderSize;
                _pendingWindowDelta -= delta;
                openFlags = YamuxFrameFlags.None;
                _state &= ~(StreamState.SynPending | StreamState.AckPending);
            }

            if (length > 0 || fin)
            {
                YamuxFrameFlags flags = openFlags;
                if (length > 0)
                {
                    YamuxFrameCodec.WriteHeader(output, new YamuxFrameHeader(YamuxFrameType.Data, flags, _id, (uint)length));
                    foreach (ReadOnlyMemory<byte> segment in data.Slice(0, length))
                    {
                        output.Write(segment.Span);
                    }

                    Interlocked.Add(ref _sendWindow, -length);
                    written += YamuxFrameCodec.HeaderSize + length;
                    flags = YamuxFrameFlags.None;
                }

                if (fin)
                {
                    // FIN goes in its own window-update frame, as go-yamux sends it, never on a data frame: js-libp2p's
                    // yamux (@chainsafe/libp2p-yamux stream.js handleData) applies FIN before delivering the frame's
                    // payload and drops it (bench/run.sh lost the last 64 KiB of perf downloads; docs/performance.md).
                    YamuxFrameCodec.WriteHeader(output, new YamuxFrameHeader(YamuxFrameType.WindowUpdate, flags | YamuxFrameFlags.Fin, _id, 0));
                    written += YamuxFrameCodec.HeaderSize;
                }

                _state &= ~(StreamState.SynPending | StreamState.AckPending);
            }

            if (haveData)
            {
                _sendPipe.Reader.AdvanceTo(data.GetPosition(length));
            }

            if (fin)
            {
                _state |= StreamState.FinSent;
                _sendPipe.Reader.Complete();
                _writesClosed.TrySetResult();
                fullyClosed = (_state & StreamState.FinReceived) != 0;
            }
            else
            {
                more = haveData && data.Length > length && window > length;
            }
        }

        if (fullyClosed)
        {
            _session.RemoveStream(this);
        }
        else if (more)
        {
            _session.Schedule(this);
        }

        return written;
    }
}
